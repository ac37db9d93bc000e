// Command kube-apiserver mirrors k8s.io/kubernetes/cmd/kube-apiserver, which
// cannot be built directly from the module cache because of the staging replaces.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
