import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { Informer } from '../../operator/src/kube/informer.ts';
import { startControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { makeCertificates } from '../helpers/certs.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { applyCrds } from '../operator/crds.ts';
import { spawnOperator } from '../operator/operator-helpers.ts';
import { startCatchAllSink, type CatchAllSink, type SunkMessage } from './catch-all-sink.ts';
import { PODS_HOST, PodRunner } from './pod-runner.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const EXAMPLE = join(ROOT, 'examples/local-stack/mailrelay.yaml');
const MX_HOST = 'mx.local-stack.test';

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

/**
 * The whole product on one machine: a local control plane, the CRDs, the operator (its real CLI),
 * relay pods run as local processes, a DNS server standing in for the internet's (every domain's MX
 * is the local catch-all sink; SendingDomains' records are published into it), and the sink.
 */
export class LocalStack {
  private constructor(
    readonly cp: ControlPlane,
    readonly dns: DnsServer,
    readonly sink: CatchAllSink,
    readonly operator: ChildProcess,
    readonly operatorMetricsPort: number,
    readonly runner: PodRunner,
    readonly namespace: string,
    readonly credentials: Credentials,
    /** Stops what start() started, last started first. */
    private readonly cleanup: (() => Promise<unknown>)[],
  ) {}

  static async start(opts: LocalStackOptions): Promise<LocalStack> {
    const log = opts.log ?? (() => {});
    const namespace = opts.namespace ?? 'mail';
    mkdirSync(opts.dataDir, { recursive: true });
    log('starting the local control plane (the first run builds kube-apiserver and etcd from Go modules)');
    const cp = await startControlPlane({ log: (line: string) => log(line) });
    const cleanup: (() => Promise<unknown>)[] = [() => cp.stop()];
    try {
      await applyCrds(cp);
      const dns = await startDnsServer({ [MX_HOST]: { a: ['127.0.0.1'] }, [PODS_HOST]: { a: ['127.0.0.1'] } }, { fallback: () => ({ mx: [{ preference: 10, exchange: MX_HOST }] }) });
      cleanup.push(() => dns.close());
      const resolver = new Resolver({ timeout: 2000, tries: 2 });
      resolver.setServers([dns.server]);
      const sink = await startCatchAllSink(join(opts.dataDir, 'mail'), (name, rrtype) => resolver.resolve(name, rrtype) as Promise<unknown>, opts.onMail);
      cleanup.push(() => sink.close());

      // The internet's DNS: whatever the operator asks users to publish gets published.
      const publisher = new Informer<SendingDomain & KubernetesObject>(cp.kubeConfig(), { apiVersion: 'mailrelay.dev/v1alpha1', kind: 'SendingDomain', plural: 'sendingdomains', namespaces: 'all' });
      const publish = (sd: SendingDomain) => {
        for (const r of sd.status?.dnsRecords ?? []) dns.set(r.name, { txt: [r.strings ?? [r.value]] });
      };
      publisher.on('add', publish).on('update', publish);
      publisher.start();
      cleanup.push(() => publisher.stop());

      const operatorLog = createWriteStream(join(opts.dataDir, 'operator.log'));
      const operator = spawnOperator(cp, ['--no-leader-elect', '--resolvers', dns.server, '--dns-check-interval', '5s', '--reputation-interval', '2s', '--relay-image', 'local/mail-relay:dev']);
      cleanup.push(async () => {
        if (operator.exitCode === null) {
          const exited = new Promise((r) => operator.once('exit', r));
          operator.kill('SIGTERM');
          await exited;
        }
      });
      operator.stderr!.pipe(operatorLog);
      const operatorMetricsPort = await new Promise<number>((resolve, reject) => {
        createInterface({ input: operator.stdout! }).on('line', (line) => {
          operatorLog.write(`${line}\n`);
          if (line.includes('"operator started"')) resolve((JSON.parse(line) as { metricsPort: number }).metricsPort);
        });
        operator.once('exit', (code) => reject(new Error(`the operator exited (${code}); see ${join(opts.dataDir, 'operator.log')}`)));
      });

      const runner = new PodRunner(cp.kubeConfig(), {
        namespaces: 'all',
        dataDir: join(opts.dataDir, 'pods'),
        resolver: dns.server,
        mxPort: sink.port,
        log,
        relayMain: join(ROOT, 'relay/src/main.ts'),
      });
      await runner.start();
      cleanup.push(() => runner.stop());

      const credentials = await createSecrets(cp, namespace, opts.dataDir);
      await cp.kubectl(['apply', '-n', namespace, '-f', EXAMPLE]);
      return new LocalStack(cp, dns, sink, operator, operatorMetricsPort, runner, namespace, credentials, cleanup);
    } catch (err) {
      for (const fn of cleanup.reverse()) await fn().catch(() => {});
      throw err;
    }
  }

  /** The running pod of a relay, once it is ready. */
  pod(relay = 'local') {
    return [...this.runner.pods.values()].find((p) => p.namespace === this.namespace && p.relay === relay && p.ready);
  }

  async stop(): Promise<void> {
    for (const fn of this.cleanup.reverse()) await fn();
  }
}

/** TLS certificate, an SMTP user and an API token, made fresh on every start and kept only in the control plane. */
async function createSecrets(cp: ControlPlane, namespace: string, dataDir: string): Promise<Credentials> {
  await cp.kubectl(['create', 'namespace', namespace]);
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
