import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig, KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { getSharedControlPlane } from '../../../test/control-plane/control-plane.ts';
import type { ControlPlane } from '../../../test/control-plane/control-plane.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../../../test/control-plane/test-timeouts.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { Informer } from './informer.ts';
import { RestClient, resourcePath } from './rest-client.ts';
import { SecretStore } from './secret-store.ts';

describe('SecretStore', { timeout: TEST_TIMEOUT_MS }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let rest: RestClient;
  let ns: string;
  let meta: Informer<KubernetesObject>;
  let store: SecretStore;

  const put = (name: string, data: Record<string, string>) =>
    rest.request<V1Secret>('PUT', resourcePath('v1', 'secrets', ns, name), {
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
    }).catch(() =>
      rest.request<V1Secret>('POST', resourcePath('v1', 'secrets', ns), {
        body: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) },
      }),
    );
  const text = (s: V1Secret | undefined, key: string) => (s?.data?.[key] === undefined ? undefined : Buffer.from(s.data[key]!, 'base64').toString());

  before(async () => {
    cp = await getSharedControlPlane();
    kc = cp.kubeConfig();
    rest = new RestClient(kc);
    ns = await cp.newNamespace('secrets');
    meta = new Informer<KubernetesObject>(kc, { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaces: [ns], metadataOnly: true, client: rest });
    store = new SecretStore(meta, rest);
    meta.start();
    await meta.waitForSync();
  }, { timeout: SETUP_TIMEOUT_MS });

  after(() => meta.stop());

  it('caches only the metadata of every Secret: names, labels and versions, never the data', async () => {
    const created = await put('big', { blob: 'x'.repeat(200_000) });
    await waitFor('the informer sees the Secret', () => meta.get(ns, 'big')?.metadata?.resourceVersion === created.metadata?.resourceVersion);
    const cached = meta.get(ns, 'big') as KubernetesObject & { data?: unknown };
    assert.equal(cached.kind, 'Secret');
    assert.equal(cached.data, undefined);
    assert.ok(JSON.stringify(cached).length < 2_000, `the cached entry is small (${JSON.stringify(cached).length} bytes)`);
    assert.equal(store.size, 0, 'no body is held until one is read');
  });

  it('fetches a body on first use, reuses it while the resourceVersion holds, fetches anew after a change, forgets a deleted Secret', async () => {
    const first = await put('users', { alice: 'one' });
    await waitFor('metadata', () => meta.get(ns, 'users')?.metadata?.resourceVersion === first.metadata?.resourceVersion);
    const before = store.fetches;
    assert.equal(text(await store.get(ns, 'users'), 'alice'), 'one');
    assert.equal(text(await store.get(ns, 'users'), 'alice'), 'one');
    assert.equal(store.fetches, before + 1, 'an unchanged Secret is read once');

    const second = await put('users', { alice: 'two' });
    await waitFor('the change', () => meta.get(ns, 'users')?.metadata?.resourceVersion === second.metadata?.resourceVersion);
    assert.equal(text(await store.get(ns, 'users'), 'alice'), 'two');
    assert.equal(store.fetches, before + 2);

    await rest.request('DELETE', resourcePath('v1', 'secrets', ns, 'users'));
    await waitFor('the deletion', () => meta.get(ns, 'users') === undefined);
    assert.equal(await store.get(ns, 'users'), undefined);
    assert.equal(await store.get(ns, 'never-existed'), undefined);
    assert.equal(store.fetches, before + 2, 'a Secret the informer does not know costs no request');
  });
});
