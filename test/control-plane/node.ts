import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Log, NodeBinaries } from './binaries.ts';
import { acquireDirLock } from './lock.ts';
import {
  buildCleanupScript,
  buildCniConfig,
  buildContainerdConfig,
  buildKubeletConfig,
  buildKubeProxyConfig,
  CREATED_HOST_PATHS,
  NODE_NETWORK,
  nodeLayout,
  TOUCHED_SYSCTLS,
} from './node-config.ts';
import type { HostBaseline, NodeLayout } from './node-config.ts';
import { writeOciArchive } from './oci-archive.ts';
import { testbinDir } from './paths.ts';
import { freePort } from './ports.ts';
import { logTail, spawnServer, stopServer } from './processes.ts';
import type { ServerProcess, Watchdog } from './processes.ts';
import { runTool } from './tools.ts';

/** One node per machine: its addresses, bridge and iptables chains are host-wide. */
const HOST_LOCK = '/run/mail-relay-operator-node.lock';

export const PAUSE_IMAGE_REPOSITORY = 'localhost/mail-relay-test/pause';

export const LOCAL_STORAGE_CLASS = 'local-pv';
const LOCAL_PV_COUNT = 12;

export interface NodeHost {
  readonly layout: NodeLayout;
  /** Undoes every host change; idempotent and synchronous so the exit handler can run it. */
  cleanupSync(): void;
  release(): void;
}

function missingCommands(): string[] {
  const wanted: Array<[string, string]> = [
    ['containerd', 'containerd'],
    ['runc', 'runc'],
    ['ctr', 'containerd'],
    ['iptables', 'iptables'],
    ['ip', 'iproute2'],
    ['gcc', 'gcc'],
  ];
  const missing = new Set<string>();
  for (const [command, pkg] of wanted) {
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    } catch {
      missing.add(pkg);
    }
  }
  if (!existsSync('/usr/lib/cni/bridge')) missing.add('containernetworking-plugins');
  return [...missing];
}

/** Why a machine cannot run a node, as a sentence a person can act on; undefined when it can. Pure. */
export function decideNodeUnsupported(platform: string, uid: number | undefined, missingPackages: readonly string[]): string | undefined {
  if (platform !== 'linux') return `a node needs Linux (this is ${platform})`;
  if (uid !== 0) return 'a node needs root (containerd, runc, iptables and mounts): run as root, e.g. `sudo -E npm start`';
  if (missingPackages.length > 0) {
    return `a node needs the Debian packages ${missingPackages.join(', ')}: apt-get install -y --no-install-recommends ${missingPackages.join(' ')}`;
  }
  return undefined;
}

/** Why this machine cannot run a node; undefined when it can. */
export function nodeUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return decideNodeUnsupported(process.platform, process.getuid?.(), []);
  return decideNodeUnsupported(process.platform, process.getuid?.(), process.getuid?.() === 0 ? missingCommands() : []);
}

function readSysctl(key: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function readBaseline(lock: HostBaseline['lock']): HostBaseline {
  const sysctls: Record<string, string> = {};
  for (const key of TOUCHED_SYSCTLS) {
    const value = readSysctl(key);
    if (value !== undefined) sysctls[key] = value;
  }
  const cgroupRoots: string[] = [];
  for (const entry of readdirSync('/sys/fs/cgroup')) {
    const root = join('/sys/fs/cgroup', entry);
    if (statSync(root).isDirectory() && !existsSync(join(root, 'kubepods'))) cgroupRoots.push(root);
  }
  return {
    sysctls,
    absentPaths: CREATED_HOST_PATHS.filter((path) => !existsSync(path)),
    netnsBefore: existsSync('/run/netns') ? readdirSync('/run/netns') : [],
    cgroupRoots,
    lock,
  };
}

/** Mount points at or under `dir` (a kept node's folder must have none before its runtime state is cleared). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

/**
 * A kept node's folder from the last run: what lives in /run on a real machine (containerd's task
 * state, runc's, CNI's address leases of pods that are gone) is cleared, as a reboot would; the
 * kubelet's root, containerd's image store and the PersistentVolumes' data are kept. Refuses while
 * anything is mounted there: a bind mount of a volume would make a removal reach the volume's data.
 */
function clearRuntimeState(layout: NodeLayout): void {
  const mounts = mountsUnder(layout.dir);
  if (mounts.length > 0) {
    throw new Error(`${layout.dir} still has mounts from an earlier run (${mounts.slice(0, 3).join(', ')}); run ${layout.cleanupScript} or stop that run first`);
  }
  for (const sub of [layout.containerdState, layout.runcRoot, layout.cniIpamDir]) rmSync(sub, { recursive: true, force: true });
}

/**
 * Takes the host lock, records the host's state, writes the cleanup script (which the watchdog
 * runs if this process dies) and only then changes the host: the node IP on lo and the rule that
 * drops anything pods send past the bridge (and anything arriving for them from elsewhere).
 */
export async function prepareNodeHost(dir: string, log: Log, kept = false): Promise<NodeHost> {
  const reason = nodeUnsupportedReason();
  if (reason) throw new Error(reason);
  log(`waiting for the host's node lock ${HOST_LOCK}`);
  const release = await acquireDirLock(HOST_LOCK, 30 * 60_000);
  const layout = nodeLayout(dir);
  try {
    if (kept) clearRuntimeState(layout);
    writeFileSync(NODE_SOCKET_FILE, `${layout.containerdSocket}\n`);
    for (const sub of [layout.dir, layout.containerdRoot, layout.containerdState, layout.cniConfDir, layout.cniIpamDir, layout.kubeletRoot, layout.podLogsDir, layout.pvDir]) {
      mkdirSync(sub, { recursive: true });
    }
    writeFileSync(layout.cleanupScript, buildCleanupScript(layout, readBaseline({ dir: HOST_LOCK, ownerPid: process.pid })));
    chmodSync(layout.cleanupScript, 0o700);
    const host: NodeHost = {
      layout,
      cleanupSync: () => {
        execFileSync('sh', [layout.cleanupScript], { stdio: 'ignore' });
      },
      release,
    };
    try {
      // a previous run killed before its cleanup (the script only removes what is ours)
      execFileSync('ip', ['addr', 'replace', `${NODE_NETWORK.nodeIp}/32`, 'dev', 'lo']);
      const chain = NODE_NETWORK.egressChain;
      execFileSync('iptables', ['-t', 'mangle', '-N', chain]);
      execFileSync('iptables', ['-t', 'mangle', '-A', chain, '-i', NODE_NETWORK.bridge, '!', '-o', NODE_NETWORK.bridge, '-j', 'DROP']);
      execFileSync('iptables', ['-t', 'mangle', '-A', chain, '-o', NODE_NETWORK.bridge, '!', '-i', NODE_NETWORK.bridge, '-j', 'DROP']);
      execFileSync('iptables', ['-t', 'mangle', '-I', 'FORWARD', '1', '-j', chain]);
    } catch (err) {
      host.cleanupSync();
      throw err;
    }
    return host;
  } catch (err) {
    release();
    throw err;
  }
}

function ctr(layout: NodeLayout, args: string[]): string {
  return execFileSync('ctr', ['--address', layout.containerdSocket, '--namespace', 'k8s.io', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Imports an image archive (OCI or docker) into the node's containerd, for pods with imagePullPolicy Never. */
export function importImageInto(containerdSocket: string, archive: string): void {
  execFileSync('ctr', ['--address', containerdSocket, '--namespace', 'k8s.io', 'images', 'import', archive], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function importImage(layout: NodeLayout, archive: string): void {
  importImageInto(layout.containerdSocket, archive);
}

const NODE_SOCKET_FILE = join(HOST_LOCK, 'containerd-socket');

/** The containerd socket of the node running on this machine (`npm run image` imports there). */
export function runningNodeSocket(): string | undefined {
  try {
    const socket = readFileSync(NODE_SOCKET_FILE, 'utf8').trim();
    return existsSync(socket) ? socket : undefined;
  } catch {
    return undefined;
  }
}

function pauseImage(binaries: NodeBinaries): { name: string; archive: string } {
  const version = readFileSync(`${binaries.pause}.stamp`, 'utf8').split(' ')[0] ?? 'latest';
  const name = `${PAUSE_IMAGE_REPOSITORY}:${version}`;
  const archive = join(testbinDir, 'pause.oci.tar');
  const stampFile = `${archive}.stamp`;
  const stamp = `${name}\n`;
  if (!existsSync(archive) || !existsSync(stampFile) || readFileSync(stampFile, 'utf8') !== stamp) {
    writeOciArchive(archive, { name, program: binaries.pause, entrypoint: ['/pause'] });
    writeFileSync(stampFile, stamp);
  }
  return { name, archive };
}

async function until<T>(what: string, server: ServerProcess | undefined, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (server?.hasExited()) throw new Error(`${server.name} exited (${await server.exited}) before ${what}:\n${logTail(server)}`);
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = (err as Error).message.split('\n')[0] ?? '';
    }
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${last})` : ''}${server ? `:\n${logTail(server)}` : ''}`);
}

export interface NodeStart {
  binaries: NodeBinaries;
  kubectl: string;
  host: NodeHost;
  /** the API server's service-account signing key and the kubeconfig's CA */
  serviceAccountKeyFile: string;
  caFile: string;
  watchdog: Watchdog;
  servers: ServerProcess[];
  timeoutMs: number;
  log: Log;
}

export interface RunningNode {
  /** Removes every pod through the kubelet (sandboxes torn down by CNI) before the processes stop. */
  drain(): Promise<void>;
}

function localVolumes(layout: NodeLayout): string {
  const docs: object[] = [
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: LOCAL_STORAGE_CLASS, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: 'kubernetes.io/no-provisioner',
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Retain',
    },
  ];
  for (let i = 0; i < LOCAL_PV_COUNT; i++) {
    const path = join(layout.pvDir, `pv-${i}`);
    mkdirSync(path, { recursive: true });
    docs.push({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: `local-pv-${i}` },
      spec: {
        // nominal (nothing enforces a local PV's size): big enough for a MailRelay's default 10Gi spool
        capacity: { storage: '20Gi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        storageClassName: LOCAL_STORAGE_CLASS,
        local: { path },
        nodeAffinity: {
          required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [NODE_NETWORK.nodeName] }] }] },
        },
      },
    });
  }
  return docs.map((doc) => JSON.stringify(doc)).join('\n');
}

/**
 * Starts containerd, the kubelet, kube-proxy, the controller manager and the scheduler against a
 * running API server and waits for the node to be Ready. Each process joins `servers` as soon as
 * it is spawned, so a failed start still stops it.
 */
export async function startNode(start: NodeStart): Promise<RunningNode> {
  const { binaries, host, watchdog, servers, timeoutMs, log } = start;
  const { layout } = host;
  const kubectl = (args: string[], input?: string): Promise<string> =>
    runTool(start.kubectl, args, { input, env: { ...process.env, KUBECONFIG: layout.kubeconfig, KUBECACHEDIR: join(layout.dir, 'kube-cache') } });
  const node = (name: string, command: string, args: string[]): ServerProcess => {
    const server = spawnServer(name, command, args, join(layout.dir, `${name}.log`), watchdog);
    servers.push(server);
    return server;
  };

  const pause = pauseImage(binaries);
  writeFileSync(join(layout.dir, 'containerd.toml'), buildContainerdConfig(layout, pause.name));
  writeFileSync(join(layout.cniConfDir, '10-mr-node.conflist'), buildCniConfig(layout));
  writeFileSync(layout.resolvConf, `# pods resolve nothing through the host: tests give programs their own resolvers\nnameserver ${NODE_NETWORK.nodeIp}\noptions timeout:1 attempts:1\n`);

  const containerd = node('containerd', 'containerd', ['--config', join(layout.dir, 'containerd.toml'), '--log-level', 'warn']);
  await until('containerd answering', containerd, timeoutMs, () => (ctr(layout, ['version']) ? true : undefined));
  importImage(layout, pause.archive);

  const kubeletConfig = join(layout.dir, 'kubelet.yaml');
  const kubeletPort = await freePort();
  writeFileSync(kubeletConfig, buildKubeletConfig(layout, { port: kubeletPort, healthzPort: await freePort() }));
  // The kubelet lets anonymous callers exec into any pod: only this machine's own processes
  // (the API server) may reach it, never a pod.
  const input = NODE_NETWORK.inputChain;
  execFileSync('iptables', ['-N', input]);
  execFileSync('iptables', ['-A', input, '-s', NODE_NETWORK.podCidr, '-p', 'tcp', '--dport', String(kubeletPort), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
  execFileSync('iptables', ['-I', 'INPUT', '1', '-j', input]);
  // a kept cluster's Node still says Ready from the last run: only a heartbeat of this kubelet counts
  const kubeletStarted = Date.now() - 1000;
  const kubelet = node('kubelet', binaries.kubelet, [
    `--config=${kubeletConfig}`,
    `--kubeconfig=${layout.kubeconfig}`,
    `--root-dir=${layout.kubeletRoot}`,
    `--node-ip=${NODE_NETWORK.nodeIp}`,
    `--hostname-override=${NODE_NETWORK.nodeName}`,
  ]);

  const proxyConfig = join(layout.dir, 'kube-proxy.yaml');
  writeFileSync(proxyConfig, buildKubeProxyConfig(layout, { healthzPort: await freePort(), metricsPort: await freePort() }));
  node('kube-proxy', binaries.kubeProxy, [`--config=${proxyConfig}`]);

  node('kube-controller-manager', binaries.kubeControllerManager, [
    `--kubeconfig=${layout.kubeconfig}`,
    `--service-account-private-key-file=${start.serviceAccountKeyFile}`,
    `--root-ca-file=${start.caFile}`,
    '--use-service-account-credentials',
    '--controllers=*',
    '--leader-elect=false',
    '--secure-port=0',
    `--cluster-cidr=${NODE_NETWORK.podCidr}`,
    `--service-cluster-ip-range=${NODE_NETWORK.serviceCidr}`,
    '--allocate-node-cidrs=false',
    '--concurrent-statefulset-syncs=5',
  ]);
  node('kube-scheduler', binaries.kubeScheduler, [`--kubeconfig=${layout.kubeconfig}`, '--leader-elect=false', '--secure-port=0']);

  await until('the node to be Ready', kubelet, timeoutMs, async () => {
    const [status, heartbeat] = (await kubectl(['get', 'node', NODE_NETWORK.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].lastHeartbeatTime}'])).split(' ');
    return status === 'True' && Date.parse(heartbeat ?? '') >= kubeletStarted ? true : undefined;
  });
  await kubectl(['apply', '-f', '-'], localVolumes(layout));
  await until('the default ServiceAccount', undefined, timeoutMs, async () => ((await kubectl(['get', 'serviceaccount', 'default', '-o', 'name'])) ? true : undefined));
  log(`node ${NODE_NETWORK.nodeName} Ready at ${NODE_NETWORK.nodeIp} (pods ${NODE_NETWORK.podCidr}, services ${NODE_NETWORK.serviceCidr})`);

  return {
    async drain() {
      // nothing may recreate the pods meanwhile
      for (const name of ['kube-controller-manager', 'kube-scheduler']) {
        const server = servers.find((s) => s.name === name);
        if (server) await stopServer(server);
      }
      if (kubelet.hasExited() || containerd.hasExited()) return;
      try {
        await kubectl(['delete', 'pods', '--all', '--all-namespaces', '--grace-period=0', '--force', '--wait=false']);
        await until('the pods\' sandboxes to be torn down', kubelet, 30_000, () => (ctr(layout, ['tasks', 'ls', '-q']).trim() === '' ? true : undefined));
      } catch (err) {
        log(`draining the node: ${(err as Error).message.split('\n')[0]} (the cleanup removes what is left)`);
      }
    },
  };
}
