import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ensureBinaries, ensureNodeBinaries } from './binaries.ts';
import type { Binaries, Log, NodeBinaries } from './binaries.ts';
import { writeCredentials } from './credentials.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { importImage, LOCAL_STORAGE_CLASS, prepareNodeHost, startNode } from './node.ts';
import type { NodeHost, RunningNode } from './node.ts';
import { NODE_NETWORK } from './node-config.ts';
import { preferredPort } from './ports.ts';
import { parsePortMap, readJsonFile } from './saved-ports.ts';
import { killServerSync, spawnServer, startWatchdog, stopServer } from './processes.ts';
import type { ServerProcess, Watchdog } from './processes.ts';
import { waitForHealthy } from './readiness.ts';
import { runTool } from './tools.ts';
import type { ToolOptions } from './tools.ts';

export interface ControlPlaneOptions {
  /** Extra kube-apiserver flags, appended last so they override the defaults. */
  apiServerArgs?: string[];
  startTimeoutMs?: number;
  log?: Log;
  /**
   * Adds one real node (containerd, kubelet, kube-proxy) plus the controller manager and the
   * scheduler, so Pods run. Needs root; one node per machine at a time (a host-wide lock).
   */
  node?: boolean;
  /**
   * Keeps the control plane in this folder (created if missing) instead of a temporary one, and
   * leaves it there on stop: the next start with the same folder reuses etcd's data, the admin
   * token, the ServiceAccount key, the API server's certificate, the ports when still free, the
   * kubeconfig path and, with a node, the local PersistentVolumes' data and containerd's images.
   * Host changes are undone on stop all the same.
   */
  stateDir?: string;
}

export interface NodeInfo {
  name: string;
  /** the node's address (on lo): pods reach the host here, NodePorts listen here */
  ip: string;
  podCidr: string;
  serviceCidr: string;
  /** the StorageClass (default) whose local PersistentVolumes the harness created */
  storageClass: string;
  /** the private containerd's socket (`ctr --address`) */
  containerdSocket: string;
  /** Imports an image archive (OCI or docker-archive) for pods with imagePullPolicy Never. */
  importImage(archive: string): void;
}

export interface ControlPlane {
  /** Folder holding data, logs, keys and the kubeconfig; removed by stop() unless it is the stateDir. */
  readonly dir: string;
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:PORT, or https://NODE_IP:PORT with a node */
  readonly server: string;
  readonly binaries: Binaries;
  /** present when started with `node: true` */
  readonly node?: NodeInfo;
  /** Settles, naming the process, once etcd or kube-apiserver exits for any reason, stop() included. */
  readonly exited: Promise<string>;
  /** Runs the extracted kubectl against this control plane; resolves to its stdout. */
  kubectl(args: string[], options?: ToolOptions): Promise<string>;
  /** Runs the extracted helm against this control plane; resolves to its stdout. */
  helm(args: string[], options?: ToolOptions): Promise<string>;
  /** A fresh client config with admin (system:masters) credentials. */
  kubeConfig(): KubeConfig;
  /** Creates a uniquely named namespace. Nothing deletes it: without a controller manager deletion never finishes. */
  newNamespace(prefix?: string): Promise<string>;
  stop(): Promise<void>;
}

const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
const HOST = '127.0.0.1';

/** Adds etcd to `servers` as soon as it is spawned, so a failed start still stops it. */
async function startEtcd(etcdBinary: string, dir: string, ports: SavedPorts, kept: boolean, watchdog: Watchdog, servers: ServerProcess[], timeoutMs: number): Promise<string> {
  const clientPort = (ports.etcdClient = await preferredPort(ports.etcdClient));
  const peerPort = (ports.etcdPeer = await preferredPort(ports.etcdPeer));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const etcd = spawnServer(
    'etcd',
    etcdBinary,
    [
      '--name=default',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=default=${peerUrl}`,
      // Throwaway data: durability only costs time.
      ...(kept ? [] : ['--unsafe-no-fsync=true']),
      '--log-level=warn',
    ],
    join(dir, 'etcd.log'),
    watchdog,
  );
  servers.push(etcd);
  await waitForHealthy(etcd, { url: `${clientUrl}/health` }, timeoutMs);
  return clientUrl;
}

function apiServerArgs(dir: string, port: number, etcdUrl: string, credentials: ReturnType<typeof writeCredentials>, extra: string[], node: boolean): string[] {
  const address = node ? NODE_NETWORK.nodeIp : HOST;
  return [
    `--etcd-servers=${etcdUrl}`,
    `--cert-dir=${join(dir, 'pki')}`,
    `--secure-port=${port}`,
    `--bind-address=${address}`,
    `--advertise-address=${address}`,
    `--service-cluster-ip-range=${node ? NODE_NETWORK.serviceCidr : SERVICE_CLUSTER_IP_RANGE}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${credentials.tokenAuthFile}`,
    `--service-account-key-file=${credentials.serviceAccountKeyFile}`,
    `--service-account-signing-key-file=${credentials.serviceAccountKeyFile}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    '--allow-privileged=true',
    ...(node
      ? // pods call the API server through the `kubernetes` Service with their ServiceAccount's
        // token; the kubelet is reached at its InternalIP, never by a host name looked up in DNS
        ['--kubelet-preferred-address-types=InternalIP']
      : [
          // Without the controller manager no namespace gets a "default" ServiceAccount,
          // and this plugin would then reject every Pod (as envtest also avoids).
          '--disable-admission-plugins=ServiceAccount',
          // Endpoints reject loopback addresses, so the default reconciler only logs errors here.
          '--endpoint-reconciler-type=none',
        ]),
    ...extra,
  ];
}

/** The ports a kept control plane used last time, tried first so its kubeconfig and URLs stay the same. */
interface SavedPorts {
  apiServer?: number;
  etcdClient?: number;
  etcdPeer?: number;
}

const PORTS_FILE = 'ports.json';

function readSavedPorts(dir: string): SavedPorts {
  const saved = parsePortMap(readJsonFile(join(dir, PORTS_FILE)));
  return { apiServer: saved.get('apiServer'), etcdClient: saved.get('etcdClient'), etcdPeer: saved.get('etcdPeer') };
}

async function startOnce(binaries: Binaries, nodeBinaries: NodeBinaries | undefined, options: ControlPlaneOptions, log: Log): Promise<ControlPlane> {
  const timeoutMs = options.startTimeoutMs ?? (nodeBinaries ? 120_000 : 60_000);
  const kept = options.stateDir !== undefined;
  const dir = kept ? resolve(options.stateDir!) : mkdtempSync(join(tmpdir(), 'control-plane-'));
  if (kept) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ports = kept ? readSavedPorts(dir) : {};
  const watchdog = startWatchdog(dir, kept);
  const servers: ServerProcess[] = [];
  let host: NodeHost | undefined;
  let running: RunningNode | undefined;
  const killAllSync = (): void => {
    for (const server of servers) killServerSync(server);
    host?.cleanupSync();
  };
  process.on('exit', killAllSync);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await running?.drain();
      // The apiserver first, so it does not spend its shutdown retrying a dead etcd.
      for (const server of [...servers].reverse()) {
        if (!(await stopServer(server))) log(`${server.name} ignored SIGTERM for 10s and was killed`);
      }
      if (host) {
        host.cleanupSync();
        host.release();
      }
      process.off('exit', killAllSync);
      watchdog.dismiss();
      if (!kept) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return stopping;
  };

  try {
    if (nodeBinaries) host = await prepareNodeHost(dir, log, kept);
    const credentials = writeCredentials(dir);
    const etcdUrl = await startEtcd(binaries.etcd, dir, ports, kept, watchdog, servers, timeoutMs);

    const port = (ports.apiServer = await preferredPort(ports.apiServer));
    const server = `https://${host ? NODE_NETWORK.nodeIp : HOST}:${port}`;
    const certFile = join(dir, 'pki', 'apiserver.crt');
    const apiServer = spawnServer(
      'kube-apiserver',
      binaries.kubeApiserver,
      apiServerArgs(dir, port, etcdUrl, credentials, options.apiServerArgs ?? [], host !== undefined),
      join(dir, 'kube-apiserver.log'),
      watchdog,
    );
    servers.push(apiServer);
    const readCa = (): string | undefined => {
      try {
        return readFileSync(certFile, 'utf8');
      } catch {
        return undefined;
      }
    };
    // /readyz includes the RBAC bootstrap hook, so the default roles exist once it passes.
    await waitForHealthy(apiServer, { url: `${server}/readyz`, token: credentials.adminToken, ca: readCa }, timeoutMs);

    // The self-signed serving cert file also carries the CA that issued it.
    const caPem = readCa();
    if (caPem === undefined) throw new Error(`kube-apiserver is ready but ${certFile} is missing`);
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfigPath, { server, caPem, token: credentials.adminToken });
    if (kept) writeFileSync(join(dir, PORTS_FILE), `${JSON.stringify(ports)}\n`);

    // Keeps helm and kubectl from reading or writing caches and config under $HOME.
    const toolEnv: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: kubeconfigPath,
      KUBECACHEDIR: join(dir, 'kube-cache'),
      HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
      HELM_DATA_HOME: join(dir, 'helm', 'data'),
    };

    let node: NodeInfo | undefined;
    if (host && nodeBinaries) {
      const caFile = join(dir, 'ca.crt');
      writeFileSync(caFile, caPem);
      running = await startNode({
        binaries: nodeBinaries,
        kubectl: binaries.kubectl,
        host,
        serviceAccountKeyFile: credentials.serviceAccountKeyFile,
        caFile,
        watchdog,
        servers,
        timeoutMs,
        log,
      });
      const { layout } = host;
      node = {
        name: NODE_NETWORK.nodeName,
        ip: NODE_NETWORK.nodeIp,
        podCidr: NODE_NETWORK.podCidr,
        serviceCidr: NODE_NETWORK.serviceCidr,
        storageClass: LOCAL_STORAGE_CLASS,
        containerdSocket: layout.containerdSocket,
        importImage: (archive) => importImage(layout, archive),
      };
    }

    const kubeConfig = (): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    };

    return {
      dir,
      exited: Promise.race(servers.map((s) => s.exited.then((how) => `${s.name} ${how}`))),
      kubeconfigPath,
      server,
      binaries,
      node,
      kubectl: (args, opts) => runTool(binaries.kubectl, args, { ...opts, env: { ...toolEnv, ...opts?.env } }),
      helm: (args, opts) => runTool(binaries.helm, args, { ...opts, env: { ...toolEnv, ...opts?.env } }),
      kubeConfig,
      async newNamespace(prefix = 'test') {
        const base = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'test';
        const name = `${base}-${randomBytes(4).toString('hex')}`;
        const core = kubeConfig().makeApiClient(CoreV1Api);
        await core.createNamespace({ body: { metadata: { name } } });
        // with a node, pods are admitted only once the controller manager made the namespace's ServiceAccount
        for (let i = 0; node && i < 100; i++) {
          try {
            await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
            break;
          } catch {
            await sleep(100);
          }
        }
        return name;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function isBindFailure(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message);
}

/**
 * Starts etcd and kube-apiserver on loopback ports in a fresh temporary folder.
 * Processes are cleaned up by stop(), on process exit, and, if this process is
 * killed outright, by a watchdog.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? ((m: string) => console.error(`[control-plane] ${m}`));
  const binaries = await ensureBinaries(log);
  const nodeBinaries = options.node ? await ensureNodeBinaries(log) : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(binaries, nodeBinaries, options, log);
    } catch (err) {
      // A port picked as free can be taken by a parallel test file before we bind it.
      if (attempt >= 3 || !isBindFailure(err)) throw err;
      log(`port collision, retrying (${(err as Error).message.split('\n')[0]})`);
    }
  }
}

let shared: Promise<ControlPlane> | undefined;

/**
 * One control plane per process, started on first use and stopped when the
 * process exits. node:test runs each test file in its own process, so test
 * files that call this share one control plane among their tests.
 */
export function getSharedControlPlane(options?: ControlPlaneOptions): Promise<ControlPlane> {
  shared ??= startControlPlane(options).catch((err: unknown) => {
    // Lets a later test try again instead of inheriting one failed start.
    shared = undefined;
    throw err;
  });
  return shared;
}
