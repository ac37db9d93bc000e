import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import nodemailer from 'nodemailer';
import { createLogger } from '../../operator/src/log.ts';
import { Operator } from '../../operator/src/operator.ts';
import { parseOperatorOptions, type OperatorOptions } from '../../operator/src/options.ts';
import { relayLabels } from '../../operator/src/resources/labels.ts';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { startMxServer } from '../helpers/mx-server.ts';
import { startRelay, type Harness } from '../helpers/relay-harness.ts';
import { scrapeSum } from '../helpers/scrape.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { applyCrds, condition, crdDir, getJson } from './operator-helpers.ts';

/**
 * The operator's relay-wide pause against a real API server, with two real relays standing in
 * for nothing: they are relays on loopback aliases, found by the operator through Pod objects
 * and an EndpointSlice this test writes (no kubelet runs here), exactly as it finds pods. The
 * API server refuses loopback addresses in an EndpointSlice, so it names the relays by FQDN,
 * resolved by a DNS server on loopback (the operator's --resolvers).
 */
const ADDRESSES = ['127.0.13.1', '127.0.13.2'];
const PAUSED = /^mailrelay_domain_paused\{domain="example\.com"\}/;

function portFreeOn(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, address, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('relay-wide pause decided on the sums of two real relays, pushed through their admin API', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let ns: string;
  let operator: Operator | undefined;
  let dns: DnsServer | undefined;
  let metricsPort = 0;
  let adminPort = 0;
  let token = '';
  const relays: Harness[] = [];
  const kubectl = (args: string[], input?: string) => cp.kubectl(['-n', ns, ...args], input === undefined ? {} : { input });
  const metricsOf = (i: number) => `http://${ADDRESSES[i]}:${relays[i]!.relay.metricsPort}/metrics`;

  before(async () => {
    cp = await getSharedControlPlane();
    await applyCrds(cp);
    ns = await cp.newNamespace('fleet');
    dns = await startDnsServer(Object.fromEntries(ADDRESSES.map((a, i) => [`outbound-${i}.relays.test`, { a: [a] }])));
    metricsPort = await portFreeOn(ADDRESSES[0]!);
    adminPort = await portFreeOn(ADDRESSES[0]!);
    const options = parseOperatorOptions(
      ['--kubeconfig', cp.kubeconfigPath, '--namespaces', ns, '--no-leader-elect', '--metrics-address', '127.0.0.1', '--metrics-port', '0', '--relay-image', 'example.test/mail-relay:test', '--reputation-interval', '1s', '--resync', '5s', '--resolvers', dns.server],
      {},
    );
    operator = new Operator({ ...options, relayAdminPort: adminPort } as OperatorOptions, createLogger(process.env.TEST_LOG ?? 'error', !process.env.TEST_LOG), {
      onLostLeadership: () => {
        throw new Error('no leader election here');
      },
    });
    await operator.start();
    await kubectl(['apply', '-f', `${crdDir}/samples/`]);
    // every pod alone is under minVolume: only the sums breach
    await kubectl(['patch', 'sendingdomain', 'example-com', '--type=merge', '-p', JSON.stringify({ spec: { reputation: { minVolume: 4, maxBounceRate: 0.4 } } })]);
    await waitFor('the admin token', async () => (await getJson<{ data?: Record<string, string> }>(cp, ns, 'secret/outbound-auth'))?.data?.['admin.token'] !== undefined, 60_000);
    token = Buffer.from((await getJson<{ data: Record<string, string> }>(cp, ns, 'secret/outbound-auth'))!.data['admin.token']!, 'base64').toString('utf8');

  });

  after(async () => {
    await operator?.stop();
    await dns?.close();
  });

  it('pauses both relays within 10 s of a breach of the sums that neither relay has alone, and a resume on one reaches the other; spec.paused reaches both without a roll', async () => {
    // the relays here, not in before(): the harness stops them when the hook or test that started them ends
    const mx = await startMxServer('127.0.0.1', 0, { onRcpt: (a) => (a.startsWith('bad') ? { code: 550, text: '5.1.1 no such user' } : undefined) });
    for (const [i, address] of ADDRESSES.entries()) {
      const dir = await tempDir();
      const tokenFile = join(dir, 'admin.token');
      writeFileSync(tokenFile, token);
      relays.push(
        await startRelay({
          dir,
          config: {
            trustedNetworks: ['127.0.0.0/8'],
            domains: [{ name: 'example.com', reputation: { minVolume: 4, maxBounceRate: 0.4 } }],
            delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: mx.port, tls: 'none' } },
            queue: { dir: join(dir, 'spool'), retrySchedule: ['1h'] },
            metrics: { address, port: metricsPort },
            admin: { address, port: adminPort, tokenFile },
          },
        }),
      );
      const name = `outbound-${i}`;
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: relayLabels('outbound') }, spec: { containers: [{ name: 'relay', image: 'example.test/mail-relay:test' }] } }));
      await kubectl(['patch', 'pod', name, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { podIP: address, podIPs: [{ ip: address }] } })]);
    }
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'outbound-headless-test', labels: { ...relayLabels('outbound'), 'kubernetes.io/service-name': 'outbound-headless' } },
        addressType: 'FQDN',
        ports: [{ name: 'metrics', port: metricsPort, protocol: 'TCP' }],
        endpoints: ADDRESSES.map((_ip, i) => ({ addresses: [`outbound-${i}.relays.test`], conditions: { ready: true } })),
      }),
    );
    const send = (i: number, to: string) =>
      nodemailer.createTransport({ host: '127.0.0.1', port: relays[i]!.port('plain'), ignoreTLS: true }).sendMail({ from: 'app@example.com', to, subject: 'Receipt', text: 'Thanks.' });
    await waitFor('status from both relays', async () => (await getJson<{ status?: { reputation?: { pods?: number } } }>(cp, ns, 'sendingdomain/example-com'))?.status?.reputation?.pods === 2, 60_000);
    for (const i of [0, 1]) {
      await send(i, 'good@example.net');
      await send(i, 'bad@example.net');
    }
    await waitFor('both relays settled', () => relays.every((r) => r.relay.spool.size === 0));
    for (const i of [0, 1]) assert.equal(await scrapeSum(metricsOf(i), /^mailrelay_domain_window_messages\{domain="example\.com",outcome="bounced"\}/), 1, 'one bounce of two on each relay');
    await waitFor('paused on both relays', async () => (await scrapeSum(metricsOf(0), PAUSED)) === 1 && (await scrapeSum(metricsOf(1), PAUSED)) === 1, 10_000);
    await waitFor('status shows the sums', async () => {
      const r = (await getJson<{ status: { reputation: Record<string, number> } }>(cp, ns, 'sendingdomain/example-com'))!.status.reputation;
      return r.sent === 4 && r.bounced === 2 && r.pausedPods === 2;
    });
    const paused = condition(await getJson(cp, ns, 'sendingdomain/example-com'), 'Paused');
    assert.equal(paused?.status, 'True');
    assert.match(paused!.message, /paused on every relay pod since .*relay-wide: bounce rate 0\.5/);
    assert.match(await send(1, 'new@example.net').then(() => 'accepted', (err: { response?: string }) => err.response ?? ''), /^451 4\.7\.1 .*relay-wide/);

    const resumed = await relays[0]!.relay.reputation.resume('example.com', 'api');
    assert.equal(resumed, true);
    await waitFor('the resume reaches the other relay', async () => (await scrapeSum(metricsOf(1), PAUSED)) === 0, 10_000);
    await waitFor('status unpaused', async () => condition(await getJson(cp, ns, 'sendingdomain/example-com'), 'Paused')?.status === 'False');
    assert.equal(await scrapeSum(metricsOf(0), PAUSED), 0, 'not paused again at once: breaches are judged since the resume');
    await send(1, 'after@example.net');

    // spec.paused reaches both relays through the admin API and rolls no pod: the hash leaves it out
    const hashOf = async () => (await getJson<{ spec: { template: { metadata: { annotations: Record<string, string> } } } }>(cp, ns, 'statefulset/outbound'))!.spec.template.metadata.annotations['mailrelay.dev/config-hash'];
    const hash = await hashOf();
    await kubectl(['patch', 'sendingdomain', 'example-com', '--type=merge', '-p', JSON.stringify({ spec: { paused: true } })]);
    await waitFor('paused by spec on both relays', async () => (await scrapeSum(metricsOf(0), PAUSED)) === 1 && (await scrapeSum(metricsOf(1), PAUSED)) === 1, 10_000);
    await waitFor('relay.yaml says paused', async () => /paused: true/.test((await getJson<{ data: Record<string, string> }>(cp, ns, 'configmap/outbound-config'))!.data['relay.yaml']!), 30_000);
    assert.equal(await hashOf(), hash, 'the pod template is unchanged');
    await kubectl(['patch', 'sendingdomain', 'example-com', '--type=merge', '-p', JSON.stringify({ spec: { paused: false } })]);
    await waitFor('unpaused on both relays', async () => (await scrapeSum(metricsOf(0), PAUSED)) === 0 && (await scrapeSum(metricsOf(1), PAUSED)) === 0, 10_000);
  });
});
