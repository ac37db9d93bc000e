import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubernetesObject, V1ConfigMap, V1Secret, V1Service } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { parseConfig } from '../../relay/src/config/parse-config.ts';
import { RestClient, resourcePath } from '../../operator/src/kube/rest-client.ts';
import type { Operator } from '../../operator/src/operator.ts';
import type { SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { applyCrds, condition, repoRoot, startOperator } from './operator-helpers.ts';

const RELAY = `apiVersion: mailrelay.dev/v1alpha1
kind: MailRelay
metadata: { name: bulk }
spec:
  hostname: relay.example.org
  listeners: [{ name: internal, port: 2525, tls: none, auth: none }]
  delivery: { mode: mx, egressAddresses: [192.0.2.10] }
  unsubscribe: { url: 'https://unsub.example.org/u' }
  queue: { storage: { size: 1Gi } }
`;

const DOMAIN = `apiVersion: mailrelay.dev/v1alpha1
kind: SendingDomain
metadata: { name: news }
spec:
  domain: news.example.org
  relayRef: { name: bulk }
  bulk: true
  dkim: { selector: s1, generate: { algorithm: ed25519-sha256 } }
`;

describe('one-click unsubscribe and BulkSenderReady against a real API server and a DNS server', { timeout: 180_000 }, () => {
  let cp: ControlPlane;
  let rest: RestClient;
  let ns: string;
  let dns: DnsServer;
  let operator: Operator | undefined;

  const domain = async () => rest.request<SendingDomain & KubernetesObject>('GET', resourcePath('mailrelay.dev/v1alpha1', 'sendingdomains', ns, 'news'));
  const kubectl = (args: string[], input?: string) => cp.kubectl(['-n', ns, ...args], input === undefined ? {} : { input });
  const record = async (purpose: 'dkim' | 'spf' | 'dmarc') => (await domain()).status!.dnsRecords!.find((r) => r.purpose === purpose)!;
  /** Waits for the condition's reason, then returns the condition. */
  const reasonIs = async (reason: string) => {
    await waitFor(`BulkSenderReady ${reason}`, async () => condition(await domain(), 'BulkSenderReady')?.reason === reason, 20_000);
    return condition(await domain(), 'BulkSenderReady')!;
  };

  before(async () => {
    cp = await getSharedControlPlane();
    rest = new RestClient(cp.kubeConfig());
    await applyCrds(cp);
    ns = await cp.newNamespace('bulk');
    dns = await startDnsServer();
    operator = await startOperator(cp, ns, ['--resolvers', dns.server, '--dns-check-interval', '1s', '--resync', '2s']);
    await kubectl(['apply', '-f', '-'], `${RELAY}---\n${DOMAIN}`);
  });

  after(async () => {
    await operator?.stop();
    await dns?.close();
  });

  it('accepts examples/bulk-sender.yaml', async () => {
    const out = await kubectl(['apply', '--dry-run=server', '-f', `${repoRoot}examples/bulk-sender.yaml`]);
    assert.match(out, /mailrelay\.mailrelay\.dev\/newsletters created \(server dry run\)/);
    assert.match(out, /sendingdomain\.mailrelay\.dev\/news-example-com created \(server dry run\)/);
    assert.match(out, /ingress\.networking\.k8s\.io\/newsletters-unsubscribe created \(server dry run\)/);
  });

  it('generates the unsubscribe key once into <relay>-auth, renders unsubscribe and domains[].bulk into relay.yaml, and serves port 8081 on the client Service', async () => {
    const get = <T>(plural: string, name: string) => rest.request<T>('GET', resourcePath('v1', plural, ns, name));
    const key = async () => {
      try {
        const data = (await get<V1Secret>('secrets', 'bulk-auth')).data?.['unsubscribe.key'];
        return data ? Buffer.from(data, 'base64').toString() : undefined;
      } catch {
        return undefined;
      }
    };
    await waitFor('the unsubscribe key', async () => (await key()) !== undefined, 20_000);
    const first = (await key())!;
    assert.ok(first.length >= 32, 'a key the relay accepts (at least 16 characters)');
    const config = async () => parseConfig(parse((await get<V1ConfigMap>('configmaps', 'bulk-config')).data!['relay.yaml']!));
    await waitFor('the domain in relay.yaml', async () => (await config()).domains.some((d) => d.name === 'news.example.org'), 20_000);
    const rendered = await config();
    assert.deepEqual(rendered.unsubscribe, { url: 'https://unsub.example.org/u', keyFile: '/etc/mail-relay/auth/unsubscribe.key', address: '0.0.0.0', port: 8081 });
    assert.equal(rendered.domains.find((d) => d.name === 'news.example.org')?.bulk, true);
    const service = await get<V1Service>('services', 'bulk');
    assert.deepEqual(service.spec!.ports!.find((p) => p.name === 'unsubscribe'), { name: 'unsubscribe', port: 8081, targetPort: 'unsubscribe', protocol: 'TCP' });
    await kubectl(['patch', 'mailrelay', 'bulk', '--type=merge', '-p', '{"spec":{"unsubscribe":{"url":"https://unsub.example.org/u","mailto":"unsubscribe@news.example.org"}}}']);
    await waitFor('mailto in relay.yaml', async () => (await config()).unsubscribe?.mailto === 'unsubscribe@news.example.org', 20_000);
    assert.equal(await key(), first, 'the key survives a change: links in sent mail keep working');
  });

  it('flips with the reason of each rule as DKIM, SPF and DMARC are published and removed', async () => {
    let c = await reasonIs('DkimNotVerified');
    assert.equal(c.status, 'False');
    assert.match(c.message, /DKIM: no TXT record at s1\._domainkey\.news\.example\.org/);

    const dkim = await record('dkim');
    dns.set(dkim.name, { txt: [dkim.strings!] });
    c = await reasonIs('SpfMissing');
    assert.equal(c.status, 'False');

    // The suggested SPF names the relay's host (a:), not its declared egress address.
    const spf = await record('spf');
    dns.set(spf.name, { txt: [[spf.value]] });
    c = await reasonIs('SpfMissesEgress');
    assert.match(c.message, /add ip4:192\.0\.2\.10/);
    dns.set(spf.name, { txt: [[spf.value.replace(' ~all', ' ip4:192.0.2.0/24 ~all')]] });
    c = await reasonIs('DmarcMissing');
    assert.match(c.message, /_dmarc\.news\.example\.org/);

    const dmarc = await record('dmarc');
    dns.set(dmarc.name, { txt: [['v=DMARC1; rua=mailto:d@news.example.org']] });
    c = await reasonIs('DmarcNoPolicy');
    assert.equal(c.status, 'False');
    dns.set(dmarc.name, { txt: [dmarc.strings!] });
    // No relay pods report TLS figures here: unknown, which does not fail the rule.
    c = await reasonIs('DeliveryTlsUnknown');
    assert.equal(c.status, 'True');

    const wide = await kubectl(['get', 'sendingdomain', 'news', '-o', 'wide']);
    const [header, row] = wide.trim().split('\n');
    const columns = header!.split(/\s+/);
    assert.equal(row!.split(/\s+/)[columns.indexOf('BULK')], 'True', `kubectl get -o wide shows the Bulk column:\n${header}\n${row}`);

    await kubectl(['patch', 'mailrelay', 'bulk', '--type=json', '-p', '[{"op":"remove","path":"/spec/unsubscribe"}]']);
    c = await reasonIs('NoOneClickUnsubscribe');
    assert.equal(c.status, 'False');

    dns.remove(dkim.name);
    c = await reasonIs('DkimNotVerified');
    assert.match(c.message, /DKIM: .*; the domain sends bulk mail/);
  });
});
