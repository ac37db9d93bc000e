import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import type { V1Secret } from '@kubernetes/client-node';
import { sampleDomain, sampleRelay } from './fixtures.ts';
import { assertGolden } from './golden.ts';
import { buildAuthSecret } from './relay-config-objects.ts';
import { buildRelayConfig, renderRelayConfig, type RelayDomain } from './relay-config.ts';
import { buildRelayNetworkPolicy, buildWebhookEgress } from './relay-network-policy.ts';
import { buildStatefulSet } from './relay-statefulset.ts';
import { decideWebhookKey, decideWebhooksReady, webhookSecretKey, type Webhook } from './relay-webhooks.ts';

/** A webhook as the API server returns it, defaults filled in. */
function hook(name: string, overrides: Partial<Webhook> = {}): Webhook {
  return {
    name,
    url: `https://hooks.example.net/${name}`,
    events: ['accepted', 'delivered', 'deferred', 'bounced', 'expired', 'complained', 'suppressed', 'rejected', 'unsubscribed'],
    deferrals: 'every',
    retryFor: '24h',
    timeout: '10s',
    secretRef: { name: `${name}-key`, key: 'secret' },
    ...overrides,
  };
}

function secret(data: Record<string, string>): V1Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) };
}

const relay = sampleRelay({
  webhooks: [hook('all', { events: ['delivered', 'bounced', 'complained'], batch: { maxEvents: 100, maxDelay: '1s' } }), hook('local', { url: 'http://127.0.0.1:8081/events', deferrals: 'first-and-last', retryFor: '3d', timeout: '5s' })],
  events: { maxBacklog: '512Mi' },
});
const news = sampleDomain('news', 'news.example.com', {
  categories: [
    { name: 'newsletter', bulk: true, reputation: { maxComplaintRate: 0.001, pauseOnBreach: true } },
    { name: 'digest', bulk: false },
    { name: 'alerts', bulk: false, reputation: {} },
  ],
  webhooks: [hook('tenant', { url: 'https://10.1.2.3:8443/mail' })],
});
const plain = sampleDomain('example-com', 'example.com');
const domains: RelayDomain[] = [
  { spec: news.spec, dkim: { selector: 'mr2026', algorithm: 'rsa-sha256' }, webhooks: news.spec.webhooks },
  { spec: plain.spec, dkim: { selector: 'mr2026', algorithm: 'ed25519-sha256' } },
];

describe('webhooks and categories in relay.yaml', () => {
  it('renders relay and domain webhooks, event settings and categories matching the golden file', () => {
    assertGolden('relay-yaml-events', renderRelayConfig(buildRelayConfig(relay, { domains })));
  });

  it('points every webhook at its key file under /etc/mail-relay/webhooks/<relay|domain>/<name>/secret', () => {
    const config = parse(renderRelayConfig(buildRelayConfig(relay, { domains })));
    assert.deepEqual(
      config.webhooks.map((w: { name: string; secretFile: string }) => [w.name, w.secretFile]),
      [
        ['all', '/etc/mail-relay/webhooks/relay/all/secret'],
        ['local', '/etc/mail-relay/webhooks/relay/local/secret'],
      ],
    );
    const [first, second] = config.domains;
    assert.equal(first.name, 'example.com');
    assert.equal(first.webhooks, undefined, 'a domain without webhooks gets no key');
    assert.equal(first.categories, undefined);
    assert.deepEqual(second.webhooks.map((w: { secretFile: string }) => w.secretFile), ['/etc/mail-relay/webhooks/news.example.com/tenant/secret']);
    // The short form for a category that is only a name; thresholds left out take the domain's.
    assert.deepEqual(second.categories, [{ name: 'newsletter', bulk: true, reputation: { maxComplaintRate: 0.001, pauseOnBreach: true } }, 'digest', 'alerts']);
    assert.deepEqual(config.events, { maxBacklog: '512Mi' });
  });

  it('leaves out a domain webhook its controller did not pass on (its key is missing)', () => {
    const config = parse(renderRelayConfig(buildRelayConfig(relay, { domains: [{ spec: news.spec, webhooks: [] }] })));
    assert.equal(config.domains[0].webhooks, undefined);
  });

  it('renders no event keys for a relay and domains that declare none', () => {
    const config = parse(renderRelayConfig(buildRelayConfig(sampleRelay(), { domains: [{ spec: plain.spec }] })));
    assert.equal(config.webhooks, undefined);
    assert.equal(config.events, undefined);
    assert.deepEqual(Object.keys(config.domains[0]).sort(), ['name', 'paused', 'reputation']);
  });
});

describe('webhook signing keys', () => {
  it('makes the key file from secretRef.key, one line, trimmed of what kubectl --from-file leaves', () => {
    assert.deepEqual(decideWebhookKey(hook('a'), secret({ secret: 'k1-current\n' })), { ok: true, file: 'k1-current\n' });
  });

  it('puts secretRef.nextKey on the second line while rotating', () => {
    const rotating = hook('a', { secretRef: { name: 'keys', key: 'old', nextKey: 'new' } });
    assert.deepEqual(decideWebhookKey(rotating, secret({ old: 'k1', new: 'k2' })), { ok: true, file: 'k1\nk2\n' });
  });

  it('names the missing Secret, a missing key or next key, and refuses empty or multi-line keys', () => {
    const rotating = hook('a', { secretRef: { name: 'keys', key: 'old', nextKey: 'new' } });
    assert.deepEqual(decideWebhookKey(hook('a'), undefined), { ok: false, reason: 'SecretNotFound', message: 'webhook a: Secret a-key not found' });
    assert.deepEqual(decideWebhookKey(hook('a'), secret({ other: 'x' })), { ok: false, reason: 'SecretNotFound', message: 'webhook a: Secret a-key has no key secret (secretRef.key)' });
    assert.deepEqual(decideWebhookKey(rotating, secret({ old: 'k1' })), { ok: false, reason: 'SecretNotFound', message: 'webhook a: Secret keys has no key new (secretRef.nextKey)' });
    assert.equal(decideWebhookKey(hook('a'), secret({ secret: ' \n' })).ok, false);
    assert.deepEqual(decideWebhookKey(hook('a'), secret({ secret: 'one\ntwo' })), {
      ok: false,
      reason: 'InvalidKey',
      message: 'webhook a: key secret of Secret a-key holds more than one line; a signing key is one line',
    });
  });

  it('reports WebhooksReady True with every key, else the first reason and every problem', () => {
    const ok = { webhook: hook('a'), key: { ok: true, file: 'k\n' } } as const;
    assert.deepEqual(decideWebhooksReady([]), { status: 'True', reason: 'WebhooksConfigured', message: 'no webhooks declared' });
    assert.deepEqual(decideWebhooksReady([ok]), { status: 'True', reason: 'WebhooksConfigured', message: '1 webhooks have their signing keys' });
    const missing = { webhook: hook('b'), key: decideWebhookKey(hook('b'), undefined) };
    const empty = { webhook: hook('c'), key: decideWebhookKey(hook('c'), secret({ secret: '' })) };
    assert.deepEqual(decideWebhooksReady([ok, missing, empty]), {
      status: 'False',
      reason: 'SecretNotFound',
      message: "webhook b: Secret b-key not found; webhook c: key secret of Secret c-key is empty; left out of the relay's config (no events are sent to them) until fixed",
    });
  });

  it('keeps the key files in the auth Secret and mounts them read-only, one directory per scope and webhook', () => {
    const webhookKeys = { [webhookSecretKey('relay', 'all')]: 'k1\n', [webhookSecretKey('news.example.com', 'tenant')]: 'k2\nk3\n' };
    const auth = buildAuthSecret(relay, { configHashKey: 'x'.repeat(32), webhookKeys });
    assert.equal(Buffer.from(auth.data!['webhook.news.example.com.tenant']!, 'base64').toString(), 'k2\nk3\n');
    const sts = buildStatefulSet(relay, {
      defaultImage: 'x',
      configHash: 'h',
      dkim: false,
      webhooks: [
        { scope: 'relay', name: 'all' },
        { scope: 'news.example.com', name: 'tenant' },
      ],
    });
    assertGolden('statefulset-webhooks', { volumes: sts.spec!.template.spec!.volumes, volumeMounts: sts.spec!.template.spec!.containers[0]!.volumeMounts });
    const volume = sts.spec!.template.spec!.volumes!.find((v) => v.name === 'webhooks')!;
    assert.equal(volume.secret?.secretName, 'outbound-auth');
    assert.deepEqual(volume.secret?.items, [
      { key: 'webhook.relay.all', path: 'relay/all/secret' },
      { key: 'webhook.news.example.com.tenant', path: 'news.example.com/tenant/secret' },
    ]);
    const mount = sts.spec!.template.spec!.containers[0]!.volumeMounts!.find((m) => m.name === 'webhooks')!;
    assert.deepEqual(mount, { name: 'webhooks', mountPath: '/etc/mail-relay/webhooks', readOnly: true });
    assert.equal(
      buildStatefulSet(relay, { defaultImage: 'x', configHash: 'h', dkim: false }).spec!.template.spec!.volumes!.some((v) => v.name === 'webhooks'),
      false,
      'no volume without webhooks',
    );
  });

  it('leaves relay.yaml as it was when a rotation starts: the key file changes, not the config, so no pod rolls', () => {
    const yaml = renderRelayConfig(buildRelayConfig(relay, { domains }));
    const rotated = { ...news.spec, webhooks: [hook('tenant', { url: 'https://10.1.2.3:8443/mail', secretRef: { name: 'tenant-key', key: 'secret', nextKey: 'next' } })] };
    assert.equal(renderRelayConfig(buildRelayConfig(relay, { domains: [{ ...domains[0]!, spec: rotated, webhooks: rotated.webhooks }, domains[1]!] })), yaml, 'starting a rotation leaves relay.yaml as it was');
  });
});

describe('webhook key names', () => {
  it('stays within the 253 characters of a Secret key for the longest domain and webhook name, distinct per webhook', () => {
    const domain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    const long = webhookSecretKey(domain, 'h'.repeat(63));
    assert.ok(long.length <= 253, `${long.length} characters`);
    assert.match(long, /^webhook\.[0-9a-f]{32}$/);
    assert.notEqual(webhookSecretKey(domain, 'g'.repeat(63)), long);
    assert.equal(webhookSecretKey('shop.example.com', 'crm'), 'webhook.shop.example.com.crm');
  });
});

describe('webhook egress', () => {
  it('opens TCP to each webhook port, narrowed to an IP literal, and nothing for loopback', () => {
    assert.deepEqual(buildWebhookEgress(['https://hooks.example.net/a', 'https://other.example.net/b', 'https://10.1.2.3:8443/mail', 'https://[2001:db8::1]/x', 'http://127.0.0.1:8081/', 'http://localhost/', 'http://[::1]:9/']), [
      { ports: [{ protocol: 'TCP', port: 443 }] },
      { to: [{ ipBlock: { cidr: '10.1.2.3/32' } }], ports: [{ protocol: 'TCP', port: 8443 }] },
      { to: [{ ipBlock: { cidr: '2001:db8::1/128' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
  });

  it('adds the webhook rules to the relay NetworkPolicy after DNS and delivery', () => {
    const withPolicy = { ...relay, spec: { ...relay.spec, networkPolicy: { enabled: true, ingressFrom: [], metricsFrom: [] } } };
    const egress = buildRelayNetworkPolicy(withPolicy, ['https://hooks.example.net/all', 'http://127.0.0.1:8081/events', 'https://10.1.2.3:8443/mail'])!.spec.egress!;
    assertGolden('network-policy-webhooks', egress);
    assert.deepEqual(egress.slice(-2), [
      { ports: [{ protocol: 'TCP', port: 443 }] },
      { to: [{ ipBlock: { cidr: '10.1.2.3/32' } }], ports: [{ protocol: 'TCP', port: 8443 }] },
    ]);
  });
});
