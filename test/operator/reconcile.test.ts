import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubernetesObject, V1ConfigMap, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { buildConfigHash } from '../../operator/src/resources/config-hash.ts';
import { parseConfig } from '../../relay/src/config/parse-config.ts';
import { parseUsers } from '../../relay/src/config/parse-users.ts';
import { RestClient, resourcePath } from '../../operator/src/kube/rest-client.ts';
import type { Operator } from '../../operator/src/operator.ts';
import type { RelayNetworkPolicy } from '../../operator/src/resources/relay-network-policy.ts';
import type { MailRelay, SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { startRelay } from '../helpers/relay-harness.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { applyCrds, condition, crdDir, startOperator } from './operator-helpers.ts';

const CONFIG_HASH = 'mailrelay.dev/config-hash';

describe('operator reconciles the samples against a real API server', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let rest: RestClient;
  let ns: string;
  let dns: DnsServer;
  let operator: Operator | undefined;

  const get = async <T extends KubernetesObject>(apiVersion: string, plural: string, name: string): Promise<T | undefined> => {
    try {
      return await rest.request<T>('GET', resourcePath(apiVersion, plural, ns, name));
    } catch (err) {
      if ((err as { status?: number }).status === 404 || /404|not found/i.test(String(err))) return undefined;
      throw err;
    }
  };
  const relay = () => get<MailRelay & KubernetesObject>('mailrelay.dev/v1alpha1', 'mailrelays', 'outbound');
  const domain = (name: string) => get<SendingDomain & KubernetesObject>('mailrelay.dev/v1alpha1', 'sendingdomains', name);
  const configMap = () => get<V1ConfigMap>('v1', 'configmaps', 'outbound-config');
  const statefulSet = () => get<V1StatefulSet>('apps/v1', 'statefulsets', 'outbound');
  const kubectl = (args: string[], input?: string) => cp.kubectl(['-n', ns, ...args], input === undefined ? {} : { input });

  before(async () => {
    cp = await getSharedControlPlane();
    rest = new RestClient(cp.kubeConfig());
    await applyCrds(cp);
    ns = await cp.newNamespace('op');
    dns = await startDnsServer();
    operator = await startOperator(cp, ns, ['--resolvers', dns.server, '--dns-check-interval', '1s', '--resync', '2s', '--reputation-interval', '1s']);
    await kubectl(['apply', '-f', `${crdDir}/samples/`]);
    // A user Secret and TLS are not in the samples; the SMTP AUTH path needs both.
  });

  after(async () => {
    await operator?.stop();
    await dns?.close();
  });

  it('creates every owned object with owner references, and relay.yaml the relay accepts', async () => {
    await waitFor('the relay StatefulSet', async () => (await statefulSet()) !== undefined, 30_000);
    for (const [apiVersion, plural, name] of [
      ['v1', 'configmaps', 'outbound-config'],
      ['v1', 'secrets', 'outbound-auth'],
      ['v1', 'services', 'outbound'],
      ['v1', 'services', 'outbound-headless'],
      ['policy/v1', 'poddisruptionbudgets', 'outbound'],
      ['apps/v1', 'statefulsets', 'outbound'],
    ] as const) {
      const obj = await get(apiVersion, plural, name);
      assert.ok(obj, `${plural}/${name} exists`);
      const owner = obj.metadata?.ownerReferences?.[0];
      assert.equal(owner?.kind, 'MailRelay');
      assert.equal(owner?.name, 'outbound');
      assert.equal(owner?.controller, true);
      assert.ok(obj.metadata?.managedFields?.some((f) => f.manager === 'mail-relay-operator' && f.operation === 'Apply'), `${name} is applied by the operator`);
    }
    // Both domains appear in relay.yaml once their DKIM keys are ready.
    await waitFor('both domains with DKIM in relay.yaml', async () => {
      const yaml = (await configMap())?.data?.['relay.yaml'];
      return !!yaml && parseConfig(parse(yaml)).domains.filter((d) => d.dkim).length === 2;
    }, 30_000);
    const config = parseConfig(parse((await configMap())!.data!['relay.yaml']!));
    assert.deepEqual(config.domains.map((d) => [d.name, d.dkim?.selector, d.dkim?.algorithm]), [
      ['example.com', 'mr2026', 'rsa-sha256'],
      ['news.example.com', 'mail', 'ed25519-sha256'],
    ]);
    assert.equal(config.http?.tokensFile, '/etc/mail-relay/auth/tokens.yaml');
    const auth = await get<V1Secret>('v1', 'secrets', 'outbound-auth');
    const tokens = parse(Buffer.from(auth!.data!['tokens.yaml']!, 'base64').toString());
    assert.deepEqual(tokens.map((t: { name: string; allowedSenderDomains: string[] }) => [t.name, t.allowedSenderDomains]), [
      ['app1', ['example.com', 'news.example.com']],
      ['billing', ['example.com', 'news.example.com']],
    ]);
    const sts = await statefulSet();
    const volumes = sts!.spec!.template.spec!.volumes!.map((v) => v.name);
    assert.deepEqual(volumes.sort(), ['auth', 'config', 'dkim', 'tmp']);
    assert.equal(sts!.spec!.template.spec!.containers[0]!.image, 'example.test/mail-relay:test');
  });

  it('reports status: Reconciled, not yet Ready without pods, endpoint and DKIM/DNS on the domains', async () => {
    await waitFor('MailRelay status', async () => condition(await relay(), 'Reconciled')?.status === 'True', 20_000);
    const r = await relay();
    assert.equal(r!.status!.observedGeneration, r!.metadata.generation);
    assert.equal(r!.status!.endpoint, `outbound.${ns}.svc`);
    // No StatefulSet controller runs against this API server, so no pod ever becomes ready.
    assert.equal(condition(r, 'Ready')?.status, 'False');
    assert.equal(condition(r, 'Ready')?.reason, 'ReplicasNotReady');
    await waitFor('SendingDomain Ready', async () => condition(await domain('example-com'), 'Ready')?.status === 'True', 20_000);
    const sd = await domain('example-com');
    assert.equal(condition(sd, 'DKIMKeyReady')?.reason, 'KeyGenerated');
    assert.equal(condition(sd, 'Paused')?.status, 'False');
    assert.deepEqual(sd!.status!.dnsRecords!.map((d) => [d.purpose, d.name]), [
      ['dkim', 'mr2026._domainkey.example.com'],
      ['spf', 'example.com'],
      ['dmarc', '_dmarc.example.com'],
    ]);
    assert.equal(condition(sd, 'DNSVerified')?.status, 'False');
    assert.equal(condition(sd, 'DNSVerified')?.reason, 'RecordsMissing');
    const events = JSON.parse(await kubectl(['get', 'events', '-o', 'json'])) as { items: { reason: string; note?: string; message?: string }[] };
    assert.ok(events.items.some((e) => e.reason === 'KeyGenerated'), 'a KeyGenerated event is recorded');
  });

  it('verifies the DNS records through a DNS server and reports each one', async () => {
    const sd = await domain('example-com');
    for (const record of sd!.status!.dnsRecords!) {
      if (record.purpose === 'dmarc') continue; // left out on purpose: one record missing
      dns.set(record.name, { txt: [record.strings!] });
    }
    await waitFor('DKIM and SPF verified', async () => {
      const records = (await domain('example-com'))?.status?.dnsRecords ?? [];
      return records.filter((r) => r.verified).length === 2;
    }, 20_000);
    let now = await domain('example-com');
    assert.equal(condition(now, 'DNSVerified')?.status, 'False');
    assert.match(condition(now, 'DNSVerified')!.message, /dmarc: no TXT record at _dmarc\.example\.com/);
    const dmarc = now!.status!.dnsRecords!.find((r) => r.purpose === 'dmarc')!;
    dns.set(dmarc.name, { txt: [dmarc.strings!] });
    await waitFor('DNSVerified', async () => condition(await domain('example-com'), 'DNSVerified')?.status === 'True', 20_000);
    // A published key that differs from ours is a mismatch, not a success.
    dns.set(sd!.status!.dnsRecords![0]!.name, { txt: [['v=DKIM1; k=rsa; p=AAAA']] });
    await waitFor('RecordMismatch', async () => condition(await domain('example-com'), 'DNSVerified')?.reason === 'RecordMismatch', 20_000);
    now = await domain('example-com');
    assert.equal(now!.status!.dnsRecords![0]!.verified, false);
  });

  it('rolls the relay when the spec changes: new relay.yaml and a new pod-template hash', async () => {
    const before = (await statefulSet())!.spec!.template.metadata!.annotations![CONFIG_HASH];
    await kubectl(['patch', 'mailrelay', 'outbound', '--type=merge', '-p', '{"spec":{"hostname":"mx.example.com"}}']);
    await waitFor('new hostname in relay.yaml', async () => parseConfig(parse((await configMap())!.data!['relay.yaml']!)).hostname === 'mx.example.com', 20_000);
    await waitFor('new config hash', async () => (await statefulSet())!.spec!.template.metadata!.annotations![CONFIG_HASH] !== before, 20_000);
    // The SPF suggestion follows the relay's host name.
    await waitFor('SPF follows the hostname', async () => (await domain('example-com'))!.status!.dnsRecords!.find((r) => r.purpose === 'spf')!.value.includes('a:mx.example.com'), 20_000);
  });

  it('recreates a deleted owned object and corrects drift', async () => {
    await kubectl(['delete', 'configmap', 'outbound-config']);
    await waitFor('ConfigMap recreated', async () => (await configMap()) !== undefined, 20_000);
    await kubectl(['scale', 'statefulset', 'outbound', '--replicas=5']);
    await waitFor('replicas corrected', async () => (await statefulSet())!.spec!.replicas === 2, 20_000);
  });

  it('keeps one VERP key per relay in its auth Secret, generated once', async () => {
    await kubectl(['patch', 'mailrelay', 'outbound', '--type=merge', '-p', '{"spec":{"feedback":{"verpDomain":"bounces.example.com","complaintAddress":"fbl@example.com"}}}']);
    const key = async () => {
      const data = (await get<V1Secret>('v1', 'secrets', 'outbound-auth'))?.data?.['verp.key'];
      return data ? Buffer.from(data, 'base64').toString() : undefined;
    };
    await waitFor('the VERP key', async () => (await key()) !== undefined, 20_000);
    const first = await key();
    assert.ok(first!.length >= 32);
    await waitFor('feedback in relay.yaml', async () => parseConfig(parse((await configMap())!.data!['relay.yaml']!)).feedback.verpKeyFile === '/etc/mail-relay/auth/verp.key', 20_000);
    await kubectl(['patch', 'mailrelay', 'outbound', '--type=merge', '-p', '{"spec":{"suppression":{"expiry":"7d"}}}']);
    await waitFor('the next change applied', async () => parseConfig(parse((await configMap())!.data!['relay.yaml']!)).suppression.expiry === 7 * 86_400_000, 20_000);
    assert.equal(await key(), first, 'the key survives other changes');
  });

  it('writes nothing when nothing changed: resourceVersions hold across full resyncs', async () => {
    const snapshot = async () => {
      const out: Record<string, string | undefined> = {};
      for (const kind of ['configmaps', 'secrets', 'services', 'statefulsets.apps', 'poddisruptionbudgets.policy', 'mailrelays', 'sendingdomains']) {
        const list = JSON.parse(await kubectl(['get', kind, '-o', 'json'])) as { items: KubernetesObject[] };
        for (const o of list.items) out[`${kind}/${o.metadata?.name}`] = o.metadata?.resourceVersion;
      }
      return out;
    };
    // Settle: DNS mismatch from the previous test is stable, the rollout is applied.
    await new Promise((r) => setTimeout(r, 3000));
    const first = await snapshot();
    const writes = operator!.manager.applier.writes;
    const reconciles = async () => (await operator!.metrics.reconcileTotal.get()).values.reduce((n, v) => n + v.value, 0);
    const start = await reconciles();
    // resync is 2 s and DNS re-checks every 1 s: wait for several rounds of both.
    await waitFor('more reconciles', async () => (await reconciles()) >= start + 20, 20_000);
    await new Promise((r) => setTimeout(r, 2500));
    assert.deepEqual(await snapshot(), first);
    assert.equal(operator!.manager.applier.writes, writes, 'no API writes during resyncs');
  });

  it('holds only the metadata of a Secret no relay uses, however large', async () => {
    // create, not apply: apply would copy the data into the last-applied annotation (256 KiB at most).
    await kubectl(['create', '-f', '-'], `apiVersion: v1\nkind: Secret\nmetadata: { name: unrelated }\ndata: { blob: ${Buffer.alloc(500_000, 'x').toString('base64')} }\n`);
    const store = operator!.manager.caches.secrets;
    await waitFor('the unrelated Secret seen', async () => store.informer.get(ns, 'unrelated') !== undefined, 20_000);
    const held = store.size;
    // Resyncs (2 s) reconcile every relay; none of them reads this Secret.
    await new Promise((r) => setTimeout(r, 4500));
    const cached = store.informer.get(ns, 'unrelated') as KubernetesObject & { data?: unknown };
    assert.equal(cached.data, undefined);
    assert.ok(JSON.stringify(cached).length < 2_000);
    assert.equal(store.size, held, 'no Secret body fetched for it');
  });

  it('marks a SendingDomain whose relay does not exist RelayNotFound', async () => {
    await kubectl(['apply', '-f', '-'], 'apiVersion: mailrelay.dev/v1alpha1\nkind: SendingDomain\nmetadata: { name: orphan }\nspec: { domain: orphan.example, relayRef: { name: nowhere } }\n');
    await waitFor('RelayNotFound', async () => condition(await domain('orphan'), 'Ready')?.reason === 'RelayNotFound', 20_000);
    assert.equal(condition(await domain('orphan'), 'Ready')?.status, 'False');
  });

  it('keeps a MailRelay with a missing Secret at SecretNotFound and applies once it appears', async () => {
    await kubectl(['apply', '-f', '-'], [
      'apiVersion: mailrelay.dev/v1alpha1',
      'kind: MailRelay',
      'metadata: { name: waiting }',
      'spec:',
      '  hostname: waiting.example.com',
      '  tls: { secretName: waiting-tls }',
      '  auth: { usersSecretName: waiting-users }',
      '  listeners: [{ name: submission, port: 587, tls: starttls, auth: required }]',
      '',
    ].join('\n'));
    const waiting = () => get<MailRelay & KubernetesObject>('mailrelay.dev/v1alpha1', 'mailrelays', 'waiting');
    await waitFor('SecretNotFound', async () => condition(await waiting(), 'Reconciled')?.reason === 'SecretNotFound', 20_000);
    assert.match(condition(await waiting(), 'Reconciled')!.message, /Secret waiting-tls.*Secret waiting-users|Secret waiting-users.*Secret waiting-tls/);
    assert.equal(await get('apps/v1', 'statefulsets', 'waiting'), undefined);
    await kubectl(['create', 'secret', 'generic', 'waiting-users', '--from-literal=alice=correct horse battery']);
    await kubectl(['create', 'secret', 'generic', 'waiting-tls', '--type=kubernetes.io/tls', '--from-literal=tls.crt=cert', '--from-literal=tls.key=key']);
    await waitFor('StatefulSet after the Secrets appear', async () => (await get('apps/v1', 'statefulsets', 'waiting')) !== undefined, 20_000);
    const auth = await get<V1Secret>('v1', 'secrets', 'waiting-auth');
    const users = parseUsers(parse(Buffer.from(auth!.data!['users.yaml']!, 'base64').toString()), 'users.yaml');
    assert.equal(users[0]!.username, 'alice');
    assert.match(users[0]!.passwordHash, /^scrypt\$/);
    assert.ok(!Buffer.from(auth!.data!['users.yaml']!, 'base64').toString().includes('correct horse'), 'no plaintext password');
  });

  it('applies the relay NetworkPolicy while spec.networkPolicy.enabled and deletes it when turned off', async () => {
    const policy = () => get<RelayNetworkPolicy & KubernetesObject>('networking.k8s.io/v1', 'networkpolicies', 'outbound');
    assert.equal(await policy(), undefined, 'off by default');
    await kubectl(['patch', 'mailrelay', 'outbound', '--type=merge', '-p', '{"spec":{"networkPolicy":{"enabled":true,"ingressFrom":[{"namespaceSelector":{"matchLabels":{"team":"mail"}}}]}}}']);
    await waitFor('the NetworkPolicy', async () => (await policy()) !== undefined, 20_000);
    const created = (await policy())!;
    assert.equal(created.metadata!.ownerReferences?.[0]?.name, 'outbound');
    assert.deepEqual(created.spec.ingress[0]!.from, [{ namespaceSelector: { matchLabels: { team: 'mail' } } }]);
    assert.deepEqual(created.spec.policyTypes, ['Ingress', 'Egress']);
    await kubectl(['patch', 'mailrelay', 'outbound', '--type=merge', '-p', '{"spec":{"networkPolicy":{"enabled":false}}}']);
    await waitFor('the NetworkPolicy deleted', async () => (await policy()) === undefined, 20_000);
  });

  it('marks a second SendingDomain for the same domain DomainConflict and keeps it out of relay.yaml; it takes over when the first goes', async () => {
    await kubectl(['apply', '-f', '-'], 'apiVersion: mailrelay.dev/v1alpha1\nkind: SendingDomain\nmetadata: { name: example-com-again }\nspec: { domain: example.com, relayRef: { name: outbound }, dkim: { selector: again, generate: {} }, paused: true }\n');
    await waitFor('DomainConflict', async () => condition(await domain('example-com-again'), 'Ready')?.reason === 'DomainConflict', 20_000);
    assert.equal(condition(await domain('example-com-again'), 'Ready')?.status, 'False');
    assert.match(condition(await domain('example-com-again'), 'Ready')!.message, /SendingDomain example-com \(created earlier\) already sends for example\.com/);
    assert.equal(condition(await domain('example-com'), 'Ready')?.status, 'True');
    // The relay keeps its config for every domain: the first object's selector, not paused.
    await new Promise((r) => setTimeout(r, 3000));
    const config = parseConfig(parse((await configMap())!.data!['relay.yaml']!));
    assert.deepEqual(config.domains.map((d) => [d.name, d.dkim?.selector, d.paused]), [
      ['example.com', 'mr2026', false],
      ['news.example.com', 'mail', false],
    ]);
    await kubectl(['delete', 'sendingdomain', 'example-com']);
    await waitFor('the second one Ready', async () => condition(await domain('example-com-again'), 'Ready')?.status === 'True', 30_000);
    await waitFor('its selector in relay.yaml', async () => parseConfig(parse((await configMap())!.data!['relay.yaml']!)).domains.find((d) => d.name === 'example.com')?.dkim?.selector === 'again', 30_000);
  });
  it("shows the API server's refusal of an owned object in the Reconciled condition and the Event", async () => {
    await kubectl(['apply', '-f', '-'], [
      'apiVersion: mailrelay.dev/v1alpha1',
      'kind: MailRelay',
      'metadata: { name: refused }',
      'spec:',
      '  hostname: refused.example.com',
      '  listeners: [{ name: internal, port: 2525, tls: none, auth: none }]',
      "  pod: { nodeSelector: { 'kubernetes.io/os': 'not a label value!' } }",
      '',
    ].join('\n'));
    const refused = () => get<MailRelay & KubernetesObject>('mailrelay.dev/v1alpha1', 'mailrelays', 'refused');
    await waitFor('ApplyFailed', async () => condition(await refused(), 'Reconciled')?.reason === 'ApplyFailed', 20_000);
    const message = condition(await refused(), 'Reconciled')!.message;
    assert.match(message, /^apply StatefulSet [a-z0-9-]+\/refused failed: 422 Invalid: StatefulSet\.apps "refused" is invalid: spec\.template\.spec\.nodeSelector: Invalid value: "not a label value!"/);
    assert.equal(condition(await refused(), 'Ready')?.message, message);
    // kubectl shows events.k8s.io Events in the core v1 shape: note as message, regarding as involvedObject.
    const events = JSON.parse(await kubectl(['get', 'events', '-o', 'json'])) as { items: { reason: string; message?: string; involvedObject?: { name?: string } }[] };
    assert.ok(events.items.some((e) => e.reason === 'ApplyFailed' && e.involvedObject?.name === 'refused' && e.message?.includes('not a label value!')), 'the Event carries the API message');
  });
  it('hashes the smarthost password into the pod template with a key of its own: a new password rolls the relay, the password alone does not give the hash', async () => {
    await kubectl(['create', 'secret', 'generic', 'upstream', '--from-literal=username=relay', '--from-literal=password=hunter2']);
    await kubectl(['apply', '-f', '-'], [
      'apiVersion: mailrelay.dev/v1alpha1',
      'kind: MailRelay',
      'metadata: { name: smart }',
      'spec:',
      '  hostname: smart.example.com',
      '  listeners: [{ name: internal, port: 2525, tls: none, auth: none }]',
      '  http: { enabled: false }',
      '  delivery: { mode: smarthost, smarthost: { host: smtp.upstream.example, credentialsSecretName: upstream } }',
      '',
    ].join('\n'));
    const hash = async () => (await get<V1StatefulSet>('apps/v1', 'statefulsets', 'smart'))?.spec?.template.metadata?.annotations?.[CONFIG_HASH];
    await waitFor('the StatefulSet', async () => (await hash()) !== undefined, 20_000);
    const first = (await hash())!;
    const auth = await get<V1Secret>('v1', 'secrets', 'smart-auth');
    const key = Buffer.from(auth!.data!['config-hash.key']!, 'base64').toString();
    assert.ok(key.length >= 32, 'a random key in the auth Secret');
    // What a reader of the StatefulSet could compute from relay.yaml and a guessed password.
    const relayYaml = (await get<V1ConfigMap>('v1', 'configmaps', 'smart-config'))!.data!['relay.yaml']!;
    const guess = createHash('sha256');
    for (const part of [relayYaml, '', '', '', 'hunter2']) guess.update(part).update('\0');
    assert.notEqual(first, guess.digest('hex'));
    assert.notEqual(first, buildConfigHash('', [relayYaml, '', '', '', 'hunter2']));

    await kubectl(['create', 'secret', 'generic', 'upstream', '--from-literal=username=relay', '--from-literal=password=hunter3', '--dry-run=client', '-o', 'yaml'])
      .then((yaml) => kubectl(['replace', '-f', '-'], yaml));
    await waitFor('a new hash', async () => (await hash()) !== first, 20_000);
    const again = await get<V1Secret>('v1', 'secrets', 'smart-auth');
    assert.equal(Buffer.from(again!.data!['config-hash.key']!, 'base64').toString(), key, 'the key is kept');
  });
  it('shows relay pods that refused a reload of their config as Reconciled=False ConfigRejected, until they accept one', async () => {
    // A real relay stands in for the pod: its metrics reached through an FQDN EndpointSlice of
    // the headless Service (the API server refuses loopback addresses in IPv4 slices).
    const pod = await startRelay();
    dns.set('outbound-0.relay.test', { a: ['127.0.0.1'] });
    await kubectl(['apply', '-f', '-'], [
      'apiVersion: discovery.k8s.io/v1',
      'kind: EndpointSlice',
      'metadata: { name: outbound-headless-test, labels: { kubernetes.io/service-name: outbound-headless, app.kubernetes.io/managed-by: mail-relay-operator } }',
      'addressType: FQDN',
      `ports: [{ name: metrics, port: ${pod.relay.metricsPort}, protocol: TCP }]`,
      'endpoints: [{ addresses: [outbound-0.relay.test], conditions: { ready: true } }]',
      '',
    ].join('\n'));
    const good = readFileSync(pod.configPath, 'utf8');
    writeFileSync(pod.configPath, `${good}unknownKey: true\n`);
    await waitFor('ConfigRejected', async () => condition(await relay(), 'Reconciled')?.reason === 'ConfigRejected', 30_000);
    assert.equal(condition(await relay(), 'Reconciled')?.status, 'False');
    assert.match(condition(await relay(), 'Reconciled')!.message, /1 of 1 relay pods refused the mounted configuration/);
    writeFileSync(pod.configPath, good);
    await waitFor('Reconciled again', async () => condition(await relay(), 'Reconciled')?.reason === 'Reconciled', 30_000);
    await kubectl(['delete', 'endpointslice', 'outbound-headless-test']);
  });
});
