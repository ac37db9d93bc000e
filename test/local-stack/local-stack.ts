import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { Informer } from '../../operator/src/kube/informer.ts';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { mountsUnder, nodeUnsupportedReason } from '../control-plane/node.ts';
import { parsePortMap, readJsonFile } from '../control-plane/saved-ports.ts';
import { makeCertificates } from '../helpers/certs.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { ensureProjectImage } from '../image/project-image.ts';
import { startCatchAllSink, type CatchAllSink, type SunkMessage } from './catch-all-sink.ts';
import { PodForward, type ForwardedPod } from './port-forward.ts';
import { alive } from '../control-plane/lock.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLE = join(ROOT, 'examples/local-stack/mailrelay.yaml');
const CHART = join(ROOT, 'charts/mail-relay-operator');
const MX_HOST = 'mx.local-stack.test';
export const OPERATOR_NAMESPACE = 'mail-relay-system';

export interface LocalStackOptions {
  readonly dataDir: string;
  readonly namespace?: string;
  readonly log?: (line: string) => void;
  readonly onMail?: (m: SunkMessage) => void;
  /** Wipes the kept cluster and credentials in dataDir first (delivered mail stays). */
  readonly reset?: boolean;
}

/** Where `npm start` keeps the cluster (etcd, keys, PV data, images) between runs. */
export const clusterDir = (dataDir: string) => join(dataDir, 'cluster');
/** The endpoints and credentials of the running stack, and its forwarded ports for the next start. */
export const endpointsFile = (dataDir: string) => join(dataDir, 'endpoints.json');
const credentialsFile = (dataDir: string) => join(dataDir, 'credentials.json');

/** The forwarded ports of the last run, read back from endpoints.json's `ports`. Pure. */
export function parseSavedForwardPorts(saved: unknown): { relay: Map<string, number>; operator: Map<string, number> } {
  const ports = typeof saved === 'object' && saved !== null ? (saved as { ports?: { relay?: unknown; operator?: unknown } }).ports : undefined;
  return { relay: parsePortMap(ports?.relay), operator: parsePortMap(ports?.operator) };
}

/** Removes what a start keeps in dataDir, but not `mail/`. Refuses while a node holds the host or anything is mounted in the cluster folder. */
export function resetLocalStackState(dataDir: string): void {
  const lockPid = Number(readFileSyncOr('/run/mail-relay-operator-node.lock/pid'));
  if (Number.isInteger(lockPid) && lockPid > 0 && alive(lockPid)) throw new Error(`a node is running on this machine (pid ${lockPid}): stop it before --reset`);
  const mounts = mountsUnder(clusterDir(dataDir));
  if (mounts.length > 0) throw new Error(`${clusterDir(dataDir)} still has mounts (${mounts.slice(0, 3).join(', ')}): not removing it`);
  for (const path of [clusterDir(dataDir), join(dataDir, 'tls'), credentialsFile(dataDir), endpointsFile(dataDir)]) rmSync(path, { recursive: true, force: true });
}

function readFileSyncOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const OPERATOR_LOCAL_ARGS = ['--dns-check-interval', '5s', '--reputation-interval', '2s'];

/**
 * The operator's args with the local-speed flags set once: a kept deployment already has them
 * from the last start (helm upgrade leaves args it did not change), so they are replaced, not
 * appended again. Pure.
 */
export function buildOperatorArgs(current: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < current.length; i++) {
    const arg = current[i]!;
    const flag = OPERATOR_LOCAL_ARGS.find((f, j) => j % 2 === 0 && (arg === f || arg.startsWith(`${f}=`)));
    if (flag === undefined) out.push(arg);
    else if (arg === flag) i++;
  }
  return [...out, ...OPERATOR_LOCAL_ARGS];
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
  readonly token: string;
  readonly caFile: string;
}

/** Why `npm start` cannot run here, with what to install; undefined when it can. */
export function localStackUnsupportedReason(): string | undefined {
  const reason = nodeUnsupportedReason();
  return reason && `npm start runs the operator and relays as pods on a local Kubernetes node: ${reason}`;
}

/**
 * The whole product on one machine: a control plane with one real node, the project image built
 * from the Dockerfile, the chart's operator as a pod, relay pods the operator declares, a DNS
 * server standing in for the internet's (every domain's MX is the local catch-all sink;
 * SendingDomains' records are published into it) and the sink. DNS (port 53) and the sink
 * (port 25) listen on the node IP, which is where pods' resolv.conf and MX answers point; the
 * relay's and operator's ports reach 127.0.0.1 through kubectl port-forward.
 */
export class LocalStack {
  private constructor(
    readonly cp: ControlPlane,
    readonly dns: DnsServer,
    readonly sink: CatchAllSink,
    readonly relayForward: PodForward,
    readonly operatorForward: PodForward,
    readonly namespace: string,
    readonly credentials: Credentials,
    readonly image: string,
    /** Stops what start() started, last started first. */
    private readonly cleanup: (() => Promise<unknown>)[],
  ) {}

  static async start(opts: LocalStackOptions): Promise<LocalStack> {
    const log = opts.log ?? (() => {});
    const unsupported = localStackUnsupportedReason();
    if (unsupported) throw new Error(unsupported);
    const namespace = opts.namespace ?? 'mail';
    mkdirSync(opts.dataDir, { recursive: true });
    if (opts.reset) resetLocalStackState(opts.dataDir);
    const saved = parseSavedForwardPorts(readJsonFile(endpointsFile(opts.dataDir)));
    log('starting the control plane and its node, and building the image (the first run builds Kubernetes from Go modules and the image with buildah)');
    const [cp, image] = await Promise.all([startControlPlane({ node: true, stateDir: clusterDir(opts.dataDir), log: (line: string) => log(line) }), ensureProjectImage((line) => log(line))]);
    const cleanup: (() => Promise<unknown>)[] = [() => cp.stop()];
    try {
      const node = cp.node!;
      node.importImage(image.archive);
      const dns = await startDnsServer({ [MX_HOST]: { a: [node.ip] } }, { address: node.ip, port: 53, fallback: () => ({ mx: [{ preference: 10, exchange: MX_HOST }] }) });
      cleanup.push(() => dns.close());
      const resolver = new Resolver({ timeout: 2000, tries: 2 });
      resolver.setServers([dns.server]);
      const sink = await startCatchAllSink(join(opts.dataDir, 'mail'), (name, rrtype) => resolver.resolve(name, rrtype) as Promise<unknown>, { address: node.ip, port: 25 }, opts.onMail);
      cleanup.push(() => sink.close());

      // The internet's DNS: whatever the operator asks users to publish gets published.
      const publisher = new Informer<SendingDomain & KubernetesObject>(cp.kubeConfig(), { apiVersion: 'mailrelay.dev/v1alpha1', kind: 'SendingDomain', plural: 'sendingdomains', namespaces: 'all' });
      const publish = (sd: SendingDomain) => {
        for (const r of sd.status?.dnsRecords ?? []) dns.set(r.name, { txt: [r.strings ?? [r.value]] });
      };
      publisher.on('add', publish).on('update', publish);
      publisher.start();
      cleanup.push(async () => publisher.stop());

      await ensureNamespace(cp, OPERATOR_NAMESPACE);
      // helm applies server-side: --force-conflicts takes back the args the patch below set last time
      await cp.helm(['upgrade', '--install', '--force-conflicts', 'mail-relay-operator', CHART, '--namespace', OPERATOR_NAMESPACE, '--set', `image.repository=${image.repository}`, '--set', `image.tag=${image.tag}`, '--set', 'image.pullPolicy=Never']);
      // Local speed only (the chart has no values for these): records are re-checked every 5 s
      // instead of 5 min and relay figures read every 2 s, so a published record shows at once.
      const args = JSON.parse((await cp.kubectl(['get', 'deployment', 'mail-relay-operator', '-n', OPERATOR_NAMESPACE, '-o', 'jsonpath={.spec.template.spec.containers[0].args}'])) || '[]') as string[];
      await cp.kubectl([
        'patch', 'deployment', 'mail-relay-operator', '-n', OPERATOR_NAMESPACE, '--type=json',
        '-p', JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/args', value: buildOperatorArgs(args) }]),
      ]);
      await cp.kubectl(['rollout', 'status', 'deployment/mail-relay-operator', '-n', OPERATOR_NAMESPACE, '--timeout=120s'], { timeoutMs: 130_000 });
      const operatorForward = new PodForward(cp, OPERATOR_NAMESPACE, 'app.kubernetes.io/name=mail-relay-operator', saved.operator);
      operatorForward.start();
      cleanup.push(() => operatorForward.stop());

      const credentials = await createSecrets(cp, namespace, opts.dataDir);
      await cp.kubectl(['apply', '-n', namespace, '-f', EXAMPLE]);
      const relayForward = new PodForward(cp, namespace, 'app.kubernetes.io/name=mail-relay,app.kubernetes.io/instance=local', saved.relay);
      relayForward.start();
      cleanup.push(() => relayForward.stop());
      return new LocalStack(cp, dns, sink, relayForward, operatorForward, namespace, credentials, image.reference, cleanup);
    } catch (err) {
      for (const fn of cleanup.reverse()) await fn().catch(() => {});
      throw err;
    }
  }

  /** The Ready relay pod of MailRelay `local` and its ports on 127.0.0.1, once forwarded. */
  pod(): ForwardedPod | undefined {
    return this.relayForward.pod;
  }

  /** The operator's metrics port on 127.0.0.1, once forwarded. */
  operatorMetricsPort(): number | undefined {
    return this.operatorForward.pod?.ports.get('metrics');
  }

  async stop(): Promise<void> {
    for (const fn of this.cleanup.reverse()) await fn();
  }
}

async function ensureNamespace(cp: ControlPlane, name: string): Promise<void> {
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } }) });
}

/** A kept certificate is reused until it has less than this left (makeCertificates issues 2 days). */
const CERT_RENEW_BEFORE_MS = 12 * 3600_000;

function keptCertificates(certDir: string): { caFile: string; certFile: string; keyFile: string } | undefined {
  const files = { caFile: join(certDir, 'ca.crt'), certFile: join(certDir, 'localhost.crt'), keyFile: join(certDir, 'localhost.key') };
  if (!Object.values(files).every((f) => existsSync(f))) return undefined;
  try {
    const expires = Date.parse(new X509Certificate(readFileSync(files.certFile)).validTo);
    return expires - Date.now() > CERT_RENEW_BEFORE_MS ? files : undefined;
  } catch {
    return undefined;
  }
}

/** A new CA too: makeCertificates would reuse a kept CA that expires with the old certificate. */
function freshCertificates(certDir: string): ReturnType<typeof makeCertificates> {
  rmSync(certDir, { recursive: true, force: true });
  mkdirSync(certDir, { recursive: true, mode: 0o700 });
  return makeCertificates(certDir, 'localhost');
}

/**
 * TLS certificate, an SMTP user and an API token: the ones saved in dataDir by an earlier start
 * (files 0600) when present, so clients keep working across restarts; else made and saved.
 */
async function createSecrets(cp: ControlPlane, namespace: string, dataDir: string): Promise<Credentials> {
  await ensureNamespace(cp, namespace);
  // pods are admitted once the controller manager has made the namespace's ServiceAccount
  for (let i = 0; i < 100; i++) {
    if (await cp.kubectl(['get', 'serviceaccount', 'default', '-n', namespace, '-o', 'name']).catch(() => '')) break;
    await sleep(100);
  }
  const certDir = join(dataDir, 'tls');
  mkdirSync(certDir, { recursive: true, mode: 0o700 });
  const certs = keptCertificates(certDir) ?? freshCertificates(certDir);
  chmodSync(certs.keyFile, 0o600);
  chmodSync(join(certDir, 'ca.key'), 0o600);
  const file = credentialsFile(dataDir);
  const saved = readJsonFile(file) as { password?: unknown; token?: unknown } | undefined;
  const password = typeof saved?.password === 'string' && saved.password.length >= 16 ? saved.password : randomBytes(12).toString('base64url');
  const token = typeof saved?.token === 'string' && saved.token.length >= 32 ? saved.token : randomBytes(24).toString('base64url');
  writeFileSync(file, `${JSON.stringify({ password, token })}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // mode applies only when the file is created
  const apply = async (args: string[]) => {
    const manifest = await cp.kubectl(['create', 'secret', ...args, '-n', namespace, '--dry-run=client', '-o', 'json']);
    await cp.kubectl(['apply', '-f', '-'], { input: manifest });
  };
  await apply(['tls', 'local-tls', `--cert=${certs.certFile}`, `--key=${certs.keyFile}`]);
  await apply(['generic', 'local-users', `--from-literal=app=${password}`]);
  await apply(['generic', 'local-api-tokens', `--from-literal=app=${token}`]);
  return { username: 'app', password, token, caFile: certs.caFile };
}
