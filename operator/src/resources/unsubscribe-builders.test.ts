import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseConfig } from '../../../relay/src/config/parse-config.ts';
import { sampleDomain, sampleRelay } from './fixtures.ts';
import { buildAuthSecret } from './relay-config-objects.ts';
import { buildRelayConfig, renderRelayConfig } from './relay-config.ts';
import { buildRelayNetworkPolicy } from './relay-network-policy.ts';
import { buildClientService } from './relay-services.ts';
import { buildStatefulSet } from './relay-statefulset.ts';

const unsubscribe = { url: 'https://unsub.example.com/mail', mailto: 'unsubscribe@bounces.example.com' };
const domains = [
  { spec: sampleDomain('news', 'news.example.com', { bulk: true }).spec },
  { spec: sampleDomain('example-com', 'example.com', { categories: [{ name: 'newsletter', bulk: true }, { name: 'receipts', bulk: false }] }).spec },
];
const sts = (relay: ReturnType<typeof sampleRelay>) => buildStatefulSet(relay, { defaultImage: 'x', configHash: 'h', dkim: false });

describe('one-click unsubscribe', () => {
  it('renders unsubscribe and domains[].bulk into a relay.yaml the relay accepts, with the key in the auth Secret directory', () => {
    const config = parseConfig(parse(renderRelayConfig(buildRelayConfig(sampleRelay({ unsubscribe }), { domains }))));
    assert.deepEqual(config.unsubscribe, { url: 'https://unsub.example.com/mail', keyFile: '/etc/mail-relay/auth/unsubscribe.key', address: '0.0.0.0', port: 8081, mailto: 'unsubscribe@bounces.example.com' });
    assert.deepEqual(
      config.domains.map((d) => [d.name, d.bulk, d.categories.map((c) => [c.name, c.bulk])]),
      [
        ['example.com', false, [['newsletter', true], ['receipts', false]]],
        ['news.example.com', true, []],
      ],
    );
    const mounts = sts(sampleRelay({ unsubscribe })).spec!.template.spec!.containers[0]!.volumeMounts!;
    assert.ok(mounts.some((m) => m.mountPath === '/etc/mail-relay/auth'), 'the key file is mounted');
  });

  it('leaves unsubscribe out of relay.yaml, and its port out of the pod, Service and NetworkPolicy, without spec.unsubscribe', () => {
    const relay = sampleRelay({ networkPolicy: { enabled: true, ingressFrom: [], metricsFrom: [] } });
    assert.equal(parseConfig(parse(renderRelayConfig(buildRelayConfig(relay, { domains })))).unsubscribe, undefined);
    assert.ok(!sts(relay).spec!.template.spec!.containers[0]!.ports!.some((p) => p.name === 'unsubscribe'));
    assert.ok(!buildClientService(relay).spec!.ports!.some((p) => p.name === 'unsubscribe'));
    assert.ok(!buildRelayNetworkPolicy(relay)!.spec.ingress.some((r) => r.ports?.some((p) => p.port === 'unsubscribe')));
  });

  it('exposes port 8081 as container port, client Service port and NetworkPolicy ingress from anyone, even with ingressFrom set', () => {
    const relay = sampleRelay({ unsubscribe, networkPolicy: { enabled: true, ingressFrom: [{ namespaceSelector: { matchLabels: { team: 'mail' } } }], metricsFrom: [] } });
    assert.deepEqual(
      sts(relay).spec!.template.spec!.containers[0]!.ports!.find((p) => p.name === 'unsubscribe'),
      { name: 'unsubscribe', containerPort: 8081, protocol: 'TCP' },
    );
    assert.deepEqual(
      buildClientService(relay).spec!.ports!.find((p) => p.name === 'unsubscribe'),
      { name: 'unsubscribe', port: 8081, targetPort: 'unsubscribe', protocol: 'TCP' },
    );
    const rules = buildRelayNetworkPolicy(relay)!.spec.ingress.filter((r) => r.ports?.some((p) => p.port === 'unsubscribe'));
    assert.deepEqual(rules, [{ ports: [{ protocol: 'TCP', port: 'unsubscribe' }] }]);
  });

  it('puts the unsubscribe key into the auth Secret as unsubscribe.key', () => {
    const secret = buildAuthSecret(sampleRelay({ unsubscribe }), { unsubscribeKey: 'k'.repeat(43) });
    assert.equal(Buffer.from(secret.data!['unsubscribe.key']!, 'base64').toString(), 'k'.repeat(43));
    assert.equal(buildAuthSecret(sampleRelay(), {}).data!['unsubscribe.key'], undefined);
  });
});
