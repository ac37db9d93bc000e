import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubernetesObject, V1ConfigMap, V1NetworkPolicy, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { RestClient, resourcePath } from '../../operator/src/kube/rest-client.ts';
import type { Operator } from '../../operator/src/operator.ts';
import type { MailRelay, SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { applyCrds, condition, startOperator } from './operator-helpers.ts';

const CONFIG_HASH = 'mailrelay.dev/config-hash';

interface RenderedWebhook {
  name: string;
  url: string;
  secretFile: string;
  events: string[];
  deferrals: string;
  batch?: { maxEvents: number; maxDelay: string };
  retryFor: string;
  timeout: string;
}
interface RenderedConfig {
  webhooks?: RenderedWebhook[];
  events?: { maxBacklog: string };
  domains: { name: string; webhooks?: RenderedWebhook[]; categories?: unknown[] }[];
}

/** A MailRelay and a SendingDomain with webhooks and categories, reconciled by a real operator against a real API server. */
describe('operator renders webhooks and categories', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let rest: RestClient;
  let ns: string;
  let operator: Operator | undefined;

  const get = async <T extends KubernetesObject>(apiVersion: string, plural: string, name: string): Promise<T | undefined> => {
    try {
      return await rest.request<T>('GET', resourcePath(apiVersion, plural, ns, name));
    } catch (err) {
      if ((err as { status?: number }).status === 404 || /404|not found/i.test(String(err))) return undefined;
      throw err;
    }
  };
  const relay = () => get<MailRelay & KubernetesObject>('mailrelay.dev/v1alpha1', 'mailrelays', 'events');
  const domain = () => get<SendingDomain & KubernetesObject>('mailrelay.dev/v1alpha1', 'sendingdomains', 'shop');
  const config = async (): Promise<RenderedConfig | undefined> => {
    const yaml = (await get<V1ConfigMap>('v1', 'configmaps', 'events-config'))?.data?.['relay.yaml'];
    return yaml === undefined ? undefined : (parse(yaml) as RenderedConfig);
  };
  const statefulSet = () => get<V1StatefulSet>('apps/v1', 'statefulsets', 'events');
  const authFile = async (key: string) => {
    const data = (await get<V1Secret>('v1', 'secrets', 'events-auth'))?.data?.[key];
    return data === undefined ? undefined : Buffer.from(data, 'base64').toString();
  };
  const kubectl = (args: string[], input?: string) => cp.kubectl(['-n', ns, ...args], input === undefined ? {} : { input });

  before(async () => {
    cp = await getSharedControlPlane();
    rest = new RestClient(cp.kubeConfig());
    await applyCrds(cp);
    ns = await cp.newNamespace('op-events');
    operator = await startOperator(cp, ns, ['--dns-check-interval', '1h', '--resync', '2s']);
    await kubectl(['apply', '-f', '-'], [
      'apiVersion: mailrelay.dev/v1alpha1',
      'kind: MailRelay',
      'metadata: { name: events }',
      'spec:',
      '  hostname: events.example.com',
      '  listeners: [{ name: internal, port: 2525, tls: none, auth: none }]',
      '  networkPolicy: { enabled: true }',
      '  events: { maxBacklog: 64Mi }',
      '  webhooks:',
      '    - { name: all, url: "https://hooks.example.net/mail", secretRef: { name: relay-hooks }, events: [delivered, bounced, complained], batch: { maxEvents: 50 } }',
      '---',
      'apiVersion: mailrelay.dev/v1alpha1',
      'kind: SendingDomain',
      'metadata: { name: shop }',
      'spec:',
      '  domain: shop.example.com',
      '  relayRef: { name: events }',
      '  categories: [{ name: password-reset }, { name: newsletter, bulk: true, reputation: { maxComplaintRate: 0.001 } }]',
      '  webhooks:',
      '    - { name: tenant, url: "https://10.20.30.40:8443/events", secretRef: { name: shop-hooks, key: current }, deferrals: first-and-last, retryFor: 2d }',
      '',
    ].join('\n'));
  });

  after(async () => {
    await operator?.stop();
  });

  it('holds the relay at SecretNotFound while its own webhook Secret is missing, naming the webhook', async () => {
    await waitFor('Reconciled=False SecretNotFound', async () => condition(await relay(), 'Reconciled')?.reason === 'SecretNotFound', 30_000);
    assert.match(condition(await relay(), 'Reconciled')!.message, /webhook all: Secret relay-hooks not found/);
    assert.equal(await statefulSet(), undefined, 'nothing applied while the key is missing');
  });

  it('applies once the Secret appears: relay.yaml has the webhooks, event settings and categories; the missing domain key leaves out only its webhook', async () => {
    await kubectl(['create', 'secret', 'generic', 'relay-hooks', '--from-literal=secret=relay-key-1']);
    await waitFor('the StatefulSet', async () => (await statefulSet()) !== undefined, 30_000);
    await waitFor('the domain in relay.yaml', async () => (await config())?.domains.some((d) => d.name === 'shop.example.com') === true, 30_000);
    const rendered = (await config())!;
    assert.deepEqual(rendered.webhooks, [
      {
        name: 'all',
        url: 'https://hooks.example.net/mail',
        secretFile: '/etc/mail-relay/webhooks/relay/all/secret',
        events: ['delivered', 'bounced', 'complained'],
        deferrals: 'every',
        batch: { maxEvents: 50, maxDelay: '1s' },
        retryFor: '24h',
        timeout: '10s',
      },
    ]);
    assert.deepEqual(rendered.events, { maxBacklog: '64Mi' });
    const shop = rendered.domains.find((d) => d.name === 'shop.example.com')!;
    assert.deepEqual(shop.categories, ['password-reset', { name: 'newsletter', bulk: true, reputation: { maxComplaintRate: 0.001 } }]);
    assert.equal(shop.webhooks, undefined, "the domain's webhook waits for its key");
    assert.equal(await authFile('webhook.relay.all'), 'relay-key-1\n');

    await waitFor('WebhooksReady=False on the SendingDomain', async () => condition(await domain(), 'WebhooksReady')?.status === 'False', 30_000);
    const webhooks = condition(await domain(), 'WebhooksReady')!;
    assert.equal(webhooks.reason, 'SecretNotFound');
    assert.match(webhooks.message, /webhook tenant: Secret shop-hooks not found; left out of the relay's config/);
    const events = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=shop,reason=SecretNotFound', '-o', 'json']);
    assert.match(events, /webhook tenant: Secret shop-hooks not found/);
  });

  it("mounts the keys read-only from the relay's auth Secret, and opens the webhook ports in the NetworkPolicy", async () => {
    await kubectl(['create', 'secret', 'generic', 'shop-hooks', '--from-literal=current=shop-key-1']);
    await waitFor('WebhooksReady=True', async () => condition(await domain(), 'WebhooksReady')?.status === 'True', 30_000);
    await waitFor("the domain's webhook in relay.yaml", async () => (await config())?.domains.find((d) => d.name === 'shop.example.com')?.webhooks?.length === 1, 30_000);
    const tenant = (await config())!.domains.find((d) => d.name === 'shop.example.com')!.webhooks![0]!;
    assert.equal(tenant.secretFile, '/etc/mail-relay/webhooks/shop.example.com/tenant/secret');
    assert.equal(tenant.deferrals, 'first-and-last');
    assert.equal(tenant.retryFor, '2d');
    assert.equal(await authFile('webhook.shop.example.com.tenant'), 'shop-key-1\n');

    await waitFor('both key files in the pod volume', async () => ((await statefulSet())?.spec?.template.spec?.volumes?.find((v) => v.name === 'webhooks')?.secret?.items?.length ?? 0) === 2, 30_000);
    const pod = (await statefulSet())!.spec!.template.spec!;
    assert.deepEqual(pod.volumes!.find((v) => v.name === 'webhooks')!.secret, {
      secretName: 'events-auth',
      items: [
        { key: 'webhook.relay.all', path: 'relay/all/secret' },
        { key: 'webhook.shop.example.com.tenant', path: 'shop.example.com/tenant/secret' },
      ],
      defaultMode: 0o440,
    });
    assert.deepEqual(pod.containers[0]!.volumeMounts!.find((m) => m.name === 'webhooks'), { name: 'webhooks', mountPath: '/etc/mail-relay/webhooks', readOnly: true });

    const policy = await get<V1NetworkPolicy>('networking.k8s.io/v1', 'networkpolicies', 'events');
    const egress = policy!.spec!.egress!.map((r) => JSON.stringify(r));
    assert.ok(egress.includes(JSON.stringify({ ports: [{ protocol: 'TCP', port: 443 }] })), 'https://hooks.example.net: TCP 443');
    assert.ok(egress.includes(JSON.stringify({ ports: [{ protocol: 'TCP', port: 8443 }], to: [{ ipBlock: { cidr: '10.20.30.40/32' } }] })), `the tenant's address and port in ${egress.join(' ')}`);
  });

  it('rotates a key without rolling the pods: the key file gets the next key on its second line, the config hash stays', async () => {
    const hash = (await statefulSet())!.spec!.template.metadata!.annotations![CONFIG_HASH];
    await kubectl(['create', 'secret', 'generic', 'shop-hooks', '--from-literal=current=shop-key-1', '--from-literal=next=shop-key-2', '--dry-run=client', '-o', 'yaml'])
      .then((yaml) => kubectl(['apply', '-f', '-'], yaml));
    await kubectl(['patch', 'sendingdomain', 'shop', '--type=json', '-p', '[{"op":"add","path":"/spec/webhooks/0/secretRef/nextKey","value":"next"}]']);
    await waitFor('both keys in the key file', async () => (await authFile('webhook.shop.example.com.tenant')) === 'shop-key-1\nshop-key-2\n', 30_000);
    // Ending the rotation: the next key becomes the key.
    await kubectl(['create', 'secret', 'generic', 'shop-hooks', '--from-literal=current=shop-key-2', '--dry-run=client', '-o', 'yaml']).then((yaml) => kubectl(['apply', '-f', '-'], yaml));
    await kubectl(['patch', 'sendingdomain', 'shop', '--type=json', '-p', '[{"op":"remove","path":"/spec/webhooks/0/secretRef/nextKey"}]']);
    await waitFor('the new key alone', async () => (await authFile('webhook.shop.example.com.tenant')) === 'shop-key-2\n', 30_000);
    assert.equal((await statefulSet())!.spec!.template.metadata!.annotations![CONFIG_HASH], hash, 'no roll for a rotation');
    assert.equal(condition(await relay(), 'Reconciled')?.status, 'True');
  });

  it('leaves the relay applying other changes while a domain webhook key is missing again', async () => {
    await kubectl(['delete', 'secret', 'shop-hooks']);
    await waitFor('WebhooksReady=False again', async () => condition(await domain(), 'WebhooksReady')?.status === 'False', 30_000);
    await waitFor('the webhook left out again', async () => (await config())?.domains.find((d) => d.name === 'shop.example.com')?.webhooks === undefined, 30_000);
    await kubectl(['patch', 'mailrelay', 'events', '--type=merge', '-p', '{"spec":{"events":{"maxBacklog":"128Mi"}}}']);
    await waitFor('the relay change applied', async () => (await config())?.events?.maxBacklog === '128Mi', 30_000);
    assert.equal(condition(await relay(), 'Reconciled')?.status, 'True');
    assert.equal(await authFile('webhook.shop.example.com.tenant'), undefined, 'no stale key kept');
  });
});
