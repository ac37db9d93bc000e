import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { getSharedControlPlane } from '../../../test/control-plane/control-plane.ts';
import type { ControlPlane } from '../../../test/control-plane/control-plane.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../../../test/control-plane/test-timeouts.ts';
import { Informer } from './informer.ts';
import type { InformerOptions } from './informer.ts';
import { RestClient } from './rest-client.ts';
import type { Query, WatchEvent } from './rest-client.ts';
import { waitFor as waitUntil } from '../../../test/helpers/wait-for.ts';

type ConfigMap = KubernetesObject & { data?: Record<string, string> };

/** The shared poll, with the longer default these cluster tests need. */
const waitFor = (what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> => waitUntil(what, cond, timeoutMs);

/** What a consumer rebuilds from the events alone: it must end up equal to the server. */
function mirror(informer: Informer<ConfigMap>): { state: Map<string, string | undefined>; counts: Record<string, number> } {
  const state = new Map<string, string | undefined>();
  const counts: Record<string, number> = { add: 0, update: 0, delete: 0 };
  const key = (o: ConfigMap): string => `${o.metadata?.namespace}/${o.metadata?.name}`;
  informer.on('add', (o) => {
    assert.ok(!state.has(key(o)), `add for ${key(o)} which was already known`);
    counts.add!++;
    state.set(key(o), o.data?.v);
  });
  informer.on('update', (o) => {
    assert.ok(state.has(key(o)), `update for unknown ${key(o)}`);
    counts.update!++;
    state.set(key(o), o.data?.v);
  });
  informer.on('delete', (o) => {
    assert.ok(state.delete(key(o)), `delete for unknown ${key(o)}`);
    counts.delete!++;
  });
  return { state, counts };
}

describe('Informer', { timeout: TEST_TIMEOUT_MS }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let rest: RestClient;
  const informers: Informer<ConfigMap>[] = [];

  before(async () => {
    // etcd compacts every 2 s, and watches read etcd rather than the watch cache (which serves
    // old versions from its snapshot), so a version held through a pause really expires: 410.
    cp = await getSharedControlPlane({ apiServerArgs: ['--watch-cache=false', '--etcd-compaction-interval=2s'] });
    kc = cp.kubeConfig();
    rest = new RestClient(kc);
  }, { timeout: SETUP_TIMEOUT_MS });

  after(async () => {
    await Promise.all(informers.map((i) => i.stop()));
  });

  const cmPath = (ns: string, name?: string): string => `/api/v1/namespaces/${ns}/configmaps${name === undefined ? '' : `/${name}`}`;
  const create = (ns: string, name: string, v: string): Promise<unknown> =>
    rest.request('POST', cmPath(ns), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels: { app: 't' } }, data: { v } } });
  const update = (ns: string, name: string, v: string): Promise<unknown> =>
    rest.request('PATCH', cmPath(ns, name), { body: { data: { v } }, contentType: 'application/merge-patch+json' });
  const remove = (ns: string, name: string): Promise<unknown> => rest.request('DELETE', cmPath(ns, name));
  async function serverState(namespaces: string[]): Promise<Map<string, string | undefined>> {
    const out = new Map<string, string | undefined>();
    for (const ns of namespaces) {
      const list = await rest.request<{ items: ConfigMap[] }>('GET', cmPath(ns), { query: { labelSelector: 'app=t' } });
      for (const o of list.items) out.set(`${ns}/${o.metadata?.name}`, o.data?.v);
    }
    return out;
  }
  function newInformer(namespaces: string[], extra: Partial<InformerOptions> = {}): Informer<ConfigMap> {
    const informer = new Informer<ConfigMap>(kc, { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaces, labelSelector: 'app=t', ...extra });
    informers.push(informer);
    return informer;
  }

  it('lists, then follows adds, updates and deletes in the namespaces it watches only', async () => {
    const [a, b, other] = [await cp.newNamespace('inf-a'), await cp.newNamespace('inf-b'), await cp.newNamespace('inf-other')];
    await create(a, 'pre', '0');
    const informer = newInformer([a, b]);
    const { state } = mirror(informer);
    informer.start();
    await informer.waitForSync();
    assert.equal(informer.hasSynced, true);
    assert.equal(informer.get(a, 'pre')?.data?.v, '0');
    assert.equal(informer.get(a, 'pre')?.kind, 'ConfigMap', 'listed items carry their kind');

    await create(b, 'new', '1');
    await create(other, 'unseen', '1');
    await update(a, 'pre', '2');
    await remove(a, 'pre');
    await create(a, 'last', '3');
    // One watch per namespace: the two streams arrive in no particular order.
    await waitFor('both namespaces', () => informer.get(a, 'last') !== undefined && informer.get(b, 'new') !== undefined);
    assert.equal(informer.get(a, 'pre'), undefined);
    assert.equal(informer.get(other, 'unseen'), undefined);
    assert.deepEqual(informer.list(b).map((o) => o.metadata?.name), ['new']);
    assert.deepEqual(state, await serverState([a, b]));
    await informer.stop();
  });

  it('resumes watches the server ends without losing an event', async () => {
    const ns = await cp.newNamespace('inf-timeout');
    const informer = newInformer([ns], { watchTimeoutSeconds: 1 });
    const { state } = mirror(informer);
    informer.start();
    await informer.waitForSync();
    // Writes spread over several one-second watches, so some land while no watch is open.
    for (let i = 0; i < 12; i++) {
      await create(ns, `cm-${i}`, String(i));
      if (i % 3 === 0) await update(ns, `cm-${i}`, `${i}-changed`);
      if (i % 4 === 0) await remove(ns, `cm-${i}`);
      await sleep(250);
    }
    const expected = await serverState([ns]);
    await waitFor('the cache to catch up', () => informer.list(ns).length === expected.size && state.size === expected.size);
    assert.deepEqual(state, expected);
    assert.deepEqual(new Map(informer.list(ns).map((o) => [`${ns}/${o.metadata?.name}`, o.data?.v])), expected);
    await informer.stop();
  });

  it('relists after 410 Gone and reports what changed while it was not watching', async () => {
    const ns = await cp.newNamespace('inf-gone');
    await create(ns, 'kept', 'a');
    await create(ns, 'deleted', 'a');
    await create(ns, 'changed', 'a');
    const watchVersions: string[] = [];
    let pause = false;
    /** Holds the informer's next watch, as a long network outage would, until its version has expired. */
    class PausingClient extends RestClient {
      override async watch(path: string, query: Query, onEvent: (ev: WatchEvent) => void, signal: AbortSignal): Promise<void> {
        if (pause) {
          pause = false;
          await remove(ns, 'deleted');
          await update(ns, 'changed', 'b');
          await create(ns, 'added', 'b');
          let expired = false;
          for (let i = 0; i < 60 && !expired; i++) {
            const probe = new AbortController();
            await rest.watch(path, { ...query, timeoutSeconds: 1 }, (ev) => {
              if (ev.type === 'ERROR' && (ev.object as { code?: number }).code === 410) expired = true;
              probe.abort();
            }, probe.signal);
            if (!expired) await sleep(500);
          }
          assert.ok(expired, 'the informer\'s version never expired');
        }
        watchVersions.push(String(query.resourceVersion));
        return super.watch(path, query, onEvent, signal);
      }
    }
    const errors: unknown[] = [];
    const informer = newInformer([ns], { client: new PausingClient(kc), watchTimeoutSeconds: 1 });
    const { state, counts } = mirror(informer);
    informer.on('error', (err) => errors.push(err));
    informer.start();
    await informer.waitForSync();
    pause = true;
    await waitFor('the relist', () => informer.get(ns, 'added') !== undefined && informer.get(ns, 'deleted') === undefined, 60_000);
    assert.ok(watchVersions.length >= 2);
    assert.equal(informer.get(ns, 'changed')?.data?.v, 'b');
    assert.deepEqual(state, await serverState([ns]));
    assert.deepEqual(counts, { add: 4, update: 1, delete: 1 });
    assert.deepEqual(errors, [], '410 is routine, not an error');
    await informer.stop();
  });

  it('resyncs periodically, emitting update for every cached object', async () => {
    const ns = await cp.newNamespace('inf-resync');
    await create(ns, 'x', '1');
    await create(ns, 'y', '1');
    const informer = newInformer([ns], { resyncMs: 300 });
    const { counts } = mirror(informer);
    informer.start();
    await informer.waitForSync();
    await waitFor('two resyncs', () => counts.update! >= 4);
    assert.equal(counts.add, 2);
    assert.equal(counts.delete, 0);
    await informer.stop();
  });

  it('reports a failing list and keeps retrying; waitForSync rejects when stopped first', async () => {
    const informer = new Informer<ConfigMap>(kc, { apiVersion: 'kubetest.mailrelay.dev/v1', kind: 'Missing', plural: 'missings', namespaces: 'all', backoffInitialMs: 20, backoffMaxMs: 50 });
    const errors: unknown[] = [];
    informer.on('error', (err) => errors.push(err));
    informer.start();
    const synced = informer.waitForSync();
    await waitFor('repeated errors', () => errors.length >= 3);
    assert.equal(informer.hasSynced, false);
    assert.match(String((errors[0] as Error).message), /list\/watch Missing/);
    await informer.stop();
    await assert.rejects(synced, /stopped before it synced/);
  });
});
