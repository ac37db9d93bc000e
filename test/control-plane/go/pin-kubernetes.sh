#!/usr/bin/env bash
# Re-pins kube-apiserver and the node binaries to another release: `bash pin-kubernetes.sh v1.34.5`.
# k8s.io/kubernetes requires its staging modules at v0.0.0 and points them at
# ./staging, which the published module lacks; each is replaced here by the
# matching published v0.X.Y, with the list taken from that release's go.mod.
set -euo pipefail
version=${1:?usage: pin-kubernetes.sh v1.MINOR.PATCH}
[[ $version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "not a release version: $version" >&2; exit 2; }
staging="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
here="$(cd "$(dirname "$0")" && pwd)"
# kube-apiserver and the node binaries (go/node) must come from the same release
for module in kube-apiserver node; do
  cd "$here/$module"
  dir=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -n $dir ]] || { echo "could not download k8s.io/kubernetes@$version" >&2; exit 1; }
  for m in $(awk '/^replace \(/{f=1;next} f&&/^\)/{f=0} f{print $1}' "$dir/go.mod"); do
    go mod edit -replace="$m=$m@$staging"
  done
  go mod edit -require="k8s.io/kubernetes@$version"
  go mod tidy
done
echo "pinned k8s.io/kubernetes $version with staging modules at $staging (go/kube-apiserver, go/node)"
