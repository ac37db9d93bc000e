import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { applyCrds } from './crds.ts';

const example = fileURLToPath(new URL('../../examples/events/sendingdomain.yaml', import.meta.url));

/** Webhooks, event settings and categories as the API server admits them: CEL messages, defaults. No operator runs here. */
describe('CRD validation of webhooks and categories', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let ns: string;
  const apply = async (yaml: string): Promise<string> => {
    try {
      await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: yaml });
      return '';
    } catch (err) {
      return String((err as Error).message);
    }
  };
  const id = () => Math.random().toString(36).slice(2, 8);
  const relay = (extra: string, name = `r${id()}`) =>
    `apiVersion: mailrelay.dev/v1alpha1\nkind: MailRelay\nmetadata: { name: ${name} }\nspec:\n  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n${extra}`;
  const domain = (extra: string, name = `d${id()}`) => `apiVersion: mailrelay.dev/v1alpha1\nkind: SendingDomain\nmetadata: { name: ${name} }\nspec:\n  domain: ${name}.example\n  relayRef: { name: r }\n${extra}`;
  const hook = (fields: string) => `  webhooks: [{ name: h, secretRef: { name: s }, ${fields} }]\n`;

  before(async () => {
    cp = await getSharedControlPlane();
    await applyCrds(cp);
    ns = await cp.newNamespace('crd-events');
  });

  const cases: [string, string, RegExp][] = [
    ['a webhook over plain http to a remote host', relay(hook('url: "http://hooks.example.com/mail"')), /spec\.webhooks\[0\]\.url: Invalid value: .*url http:\/\/hooks\.example\.com\/mail must be an absolute https:\/\/ URL \(http:\/\/ only to loopback/],
    ['a webhook over plain http to a cluster Service', domain(hook('url: "http://receiver.events.svc:8080/"')), /spec\.webhooks\[0\]\.url: Invalid value: .*must be an absolute https:\/\/ URL/],
    ['a webhook to a host that only looks like loopback', relay(hook('url: "http://127.0.0.1.evil.example/"')), /must be an absolute https:\/\/ URL/],
    ['a webhook URL that is not a URL', relay(hook('url: "hooks.example.com/mail"')), /must be an absolute https:\/\/ URL/],
    ['a webhook URL with a password in it', relay(hook('url: "https://user:pw@hooks.example.com/"')), /url must not hold user information/],
    ['two webhooks with one name', relay('  webhooks: [{ name: h, url: "https://a.example/", secretRef: { name: s } }, { name: h, url: "https://b.example/", secretRef: { name: s } }]\n'), /spec\.webhooks\[1\]: Duplicate value|webhook names must be unique: \["h"\]/],
    ['a webhook name that is not a DNS label', relay('  webhooks: [{ name: My_Hook, url: "https://a.example/", secretRef: { name: s } }]\n'), /spec\.webhooks\[0\]\.name: Invalid value: "My_Hook"/],
    ['an event kind that does not exist', relay(hook('url: "https://a.example/", events: [delivered, opened]')), /spec\.webhooks\[0\]\.events\[1\]: Unsupported value: "opened"/],
    ['a webhook that asks for no events', relay(hook('url: "https://a.example/", events: []')), /spec\.webhooks\[0\]\.events: Invalid value: 0: .*should have at least 1 items/],
    ['retrying for less than an hour', domain(hook('url: "https://a.example/", retryFor: 30m')), /spec\.webhooks\[0\]\.retryFor: Invalid value: .*retryFor 30m is shorter than 1h/],
    ['a batch of more than 1000 events', relay(hook('url: "https://a.example/", batch: { maxEvents: 5000 }')), /spec\.webhooks\[0\]\.batch\.maxEvents: Invalid value: 5000: .*should be less than or equal to 1000/],
    ['the same key as signing key and next key', relay(hook('url: "https://a.example/", secretRef: { name: s, key: k, nextKey: k }').replace('secretRef: { name: s }, ', '')), /secretRef\.nextKey must name another key than secretRef\.key/],
    ['a backlog size that is not one', relay('  events: { maxBacklog: lots }\n'), /spec\.events\.maxBacklog: Invalid value: "lots"/],
    ['a backlog below the relay\'s 64Ki', relay('  events: { maxBacklog: 1Ki }\n'), /spec\.events\.maxBacklog: Invalid value: .*events\.maxBacklog 1Ki is below 64Ki/],
    ['a request timeout of zero', relay(hook('url: "https://a.example/", timeout: 0s')), /spec\.webhooks\[0\]\.timeout: Invalid value: "0s"/],
    ['an https URL with a malformed host', relay(hook('url: "https://hooks example.com/"')), /must be an absolute https:\/\/ URL/],
    ['an upper-case category', domain('  categories: [{ name: Newsletter }]\n'), /spec\.categories\[0\]\.name: Invalid value: "Newsletter"/],
    ['a category named other', domain('  categories: [{ name: other }]\n'), /spec\.categories\[0\]\.name: Invalid value: .*category other is where undeclared categories count/],
    ['a category declared twice', domain('  categories: [{ name: news }, { name: news, bulk: true }]\n'), /spec\.categories\[1\]: Duplicate value|category names must be unique: \["news"\]/],
    // the relay's bound (MAX_CATEGORIES): every category is a label value and a set of counters
    ['more than 32 categories', domain(`  categories: [${Array.from({ length: 33 }, (_, i) => `{ name: c${i} }`).join(', ')}]\n`), /spec\.categories: Too many: 33: must have at most 32 items/],
    ['a category bounce rate above 1', domain('  categories: [{ name: news, reputation: { maxBounceRate: 2 } }]\n'), /spec\.categories\[0\]\.reputation\.maxBounceRate: Invalid value: 2/],
  ];
  for (const [what, yaml, message] of cases) {
    it(`refuses ${what}`, async () => {
      assert.match(await apply(yaml), message);
    });
  }

  it('accepts https and loopback webhooks with categories, and fills in the defaults', async () => {
    const spec = [
      '  webhooks:',
      '    - { name: all, url: "https://hooks.example.com/mail", secretRef: { name: hooks } }',
      '    - { name: local, url: "http://127.0.0.1:8081/events", secretRef: { name: hooks, key: local, nextKey: local-next }, events: [bounced, complained], deferrals: first-and-last, batch: { maxEvents: 50 }, retryFor: 3d, timeout: 5s }',
      '    - { name: six, url: "http://[::1]:8081/", secretRef: { name: hooks }, retryFor: 60m }',
      '  categories: [{ name: transactional }, { name: news_letter-2, bulk: true, reputation: { maxComplaintRate: 0.001 } }]',
      '',
    ].join('\n');
    assert.equal(await apply(domain(spec, 'valid')), '');
    const stored = JSON.parse(await cp.kubectl(['get', '-n', ns, 'sendingdomain/valid', '-o', 'json'])) as { spec: { webhooks: unknown[]; categories: unknown[] } };
    assert.deepEqual(stored.spec.webhooks[0], {
      name: 'all',
      url: 'https://hooks.example.com/mail',
      secretRef: { name: 'hooks', key: 'secret' },
      events: ['accepted', 'delivered', 'deferred', 'bounced', 'expired', 'complained', 'suppressed', 'rejected', 'unsubscribed'],
      deferrals: 'every',
      retryFor: '24h',
      timeout: '10s',
    });
    assert.deepEqual(stored.spec.webhooks[1], {
      name: 'local',
      url: 'http://127.0.0.1:8081/events',
      secretRef: { name: 'hooks', key: 'local', nextKey: 'local-next' },
      events: ['bounced', 'complained'],
      deferrals: 'first-and-last',
      batch: { maxEvents: 50, maxDelay: '1s' },
      retryFor: '3d',
      timeout: '5s',
    });
    assert.deepEqual(stored.spec.categories, [
      { name: 'transactional', bulk: false },
      { name: 'news_letter-2', bulk: true, reputation: { maxComplaintRate: 0.001 } },
    ]);
    assert.equal(await apply(relay('  events: { maxBacklog: 1Gi }\n  webhooks: [{ name: all, url: "https://hooks.example.com/", secretRef: { name: hooks } }]\n')), '');
  });

  it('accepts examples/events/sendingdomain.yaml as written', async () => {
    await cp.kubectl(['apply', '-n', ns, '-f', example]);
    const stored = JSON.parse(await cp.kubectl(['get', '-n', ns, 'sendingdomain/shop-example-com', '-o', 'json'])) as { spec: { categories: { name: string }[]; webhooks: { name: string; retryFor: string }[] } };
    assert.deepEqual(stored.spec.categories.map((c) => c.name), ['password-reset', 'receipt', 'newsletter']);
    assert.deepEqual(stored.spec.webhooks.map((w) => [w.name, w.retryFor]), [['shop-crm', '24h']]);
  });
});
