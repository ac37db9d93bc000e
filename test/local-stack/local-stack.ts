import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { Informer } from '../../operator/src/kube/informer.ts';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { nodeUnsupportedReason } from '../control-plane/node.ts';
import { makeCertificates } from '../helpers/certs.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { ensureProjectImage } from '../image/project-image.ts';
import { startCatchAllSink, type CatchAllSink, type SunkMessage } from './catch-all-sink.ts';
import { PodForward, type ForwardedPod } from './port-forward.ts';

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
    log('starting the control plane and its node, and building the image (the first run builds Kubernetes from Go modules and the image with buildah)');
    const [cp, image] = await Promise.all([startControlPlane({ node: true, log: (line: string) => log(line) }), ensureProjectImage((line) => log(line))]);
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

      await cp.kubectl(['create', 'namespace', OPERATOR_NAMESPACE]);
      await cp.helm(['install', 'mail-relay-operator', CHART, '--namespace', OPERATOR_NAMESPACE, '--set', `image.repository=${image.repository}`, '--set', `image.tag=${image.tag}`, '--set', 'image.pullPolicy=Never']);
      // Local speed only (the chart has no values for these): records are re-checked every 5 s
      // instead of 5 min and relay figures read every 2 s, so a published record shows at once.
      await cp.kubectl([
        'patch', 'deployment', 'mail-relay-operator', '-n', OPERATOR_NAMESPACE, '--type=json',
        '-p', JSON.stringify(['--dns-check-interval', '5s', '--reputation-interval', '2s'].map((value) => ({ op: 'add', path: '/spec/template/spec/containers/0/args/-', value }))),
      ]);
      await cp.kubectl(['rollout', 'status', 'deployment/mail-relay-operator', '-n', OPERATOR_NAMESPACE, '--timeout=120s'], { timeoutMs: 130_000 });
      const operatorForward = new PodForward(cp, OPERATOR_NAMESPACE, 'app.kubernetes.io/name=mail-relay-operator');
      operatorForward.start();
      cleanup.push(() => operatorForward.stop());

      const credentials = await createSecrets(cp, namespace, opts.dataDir);
      await cp.kubectl(['apply', '-n', namespace, '-f', EXAMPLE]);
      const relayForward = new PodForward(cp, namespace, 'app.kubernetes.io/name=mail-relay,app.kubernetes.io/instance=local');
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

/** TLS certificate, an SMTP user and an API token, made fresh on every start and kept only in the control plane. */
async function createSecrets(cp: ControlPlane, namespace: string, dataDir: string): Promise<Credentials> {
  await cp.kubectl(['create', 'namespace', namespace]);
  // pods are admitted once the controller manager has made the namespace's ServiceAccount
  for (let i = 0; i < 100; i++) {
    if (await cp.kubectl(['get', 'serviceaccount', 'default', '-n', namespace, '-o', 'name']).catch(() => '')) break;
    await sleep(100);
  }
  const certDir = join(dataDir, 'tls');
  mkdirSync(certDir, { recursive: true });
  const certs = makeCertificates(certDir, 'localhost');
  const password = randomBytes(12).toString('base64url');
  const token = randomBytes(24).toString('base64url');
  await cp.kubectl(['create', 'secret', 'tls', 'local-tls', '-n', namespace, `--cert=${certs.certFile}`, `--key=${certs.keyFile}`]);
  await cp.kubectl(['create', 'secret', 'generic', 'local-users', '-n', namespace, `--from-literal=app=${password}`]);
  await cp.kubectl(['create', 'secret', 'generic', 'local-api-tokens', '-n', namespace, `--from-literal=app=${token}`]);
  return { username: 'app', password, token, caFile: certs.caFile };
}
