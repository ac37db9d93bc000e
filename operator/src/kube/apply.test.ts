import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { getSharedControlPlane } from '../../../test/control-plane/control-plane.ts';
import type { ControlPlane } from '../../../test/control-plane/control-plane.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../../../test/control-plane/test-timeouts.ts';
import { OperatorError } from '../errors.ts';
import { Applier, FIELD_MANAGER } from './apply.ts';
import type { WriteRecord } from './apply.ts';
import { RestClient } from './rest-client.ts';
import { waitForEstablished } from '../../../test/control-plane/crd-established.ts';

const GADGET_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: gadgets.kubetest.mailrelay.dev }
spec:
  group: kubetest.mailrelay.dev
  scope: Namespaced
  names: { plural: gadgets, singular: gadget, kind: Gadget }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, x-kubernetes-preserve-unknown-fields: true }
            status: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;

function configMap(namespace: string, name: string, data: Record<string, string>): KubernetesObject & { data: Record<string, string> } {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace, name }, data };
}

describe('Applier', { timeout: TEST_TIMEOUT_MS }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let rest: RestClient;

  before(async () => {
    cp = await getSharedControlPlane();
    kc = cp.kubeConfig();
    rest = new RestClient(kc);
    await cp.kubectl(['apply', '-f', '-'], { input: GADGET_CRD });
    await waitForEstablished(cp, ['gadgets.kubetest.mailrelay.dev']);
  }, { timeout: SETUP_TIMEOUT_MS });

  it('reports created, unchanged and configured from the resourceVersion before and after', async () => {
    const ns = await cp.newNamespace('apply');
    const writes: WriteRecord[] = [];
    const applier = new Applier(kc, { onWrite: (w) => writes.push(w) });

    const first = await applier.apply(configMap(ns, 'a', { k: 'v1' }));
    assert.equal(first.result, 'created');
    // A fresh applier has no memo, so it must read the object to tell unchanged apart.
    const fresh = new Applier(kc);
    assert.equal((await fresh.apply(configMap(ns, 'a', { k: 'v1' }))).result, 'unchanged');
    assert.equal((await applier.apply(configMap(ns, 'a', { k: 'v1' }))).result, 'unchanged');
    const changed = await applier.apply(configMap(ns, 'a', { k: 'v2' }));
    assert.equal(changed.result, 'configured');
    assert.notEqual(changed.object.metadata?.resourceVersion, first.object.metadata?.resourceVersion);

    const stored = await rest.request<KubernetesObject & { data: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/configmaps/a`);
    assert.deepEqual(stored.data, { k: 'v2' });
    assert.ok(stored.metadata?.managedFields?.some((f) => f.manager === FIELD_MANAGER && f.operation === 'Apply'));
    assert.deepEqual(writes.map((w) => w.result), ['created', 'unchanged', 'configured']);
    assert.deepEqual(writes[0], { kind: 'ConfigMap', namespace: ns, name: 'a', result: 'created' });
  });

  it('makes no request when the live object still carries the version it last applied', async () => {
    const ns = await cp.newNamespace('apply-memo');
    const applier = new Applier(kc);
    const { object } = await applier.apply(configMap(ns, 'm', { k: 'v' }));
    const before = applier.writes;
    for (let i = 0; i < 5; i++) {
      // Keys in another order hash the same: builders need not be key-order stable.
      const out = await applier.apply({ data: { k: 'v' }, metadata: { name: 'm', namespace: ns }, kind: 'ConfigMap', apiVersion: 'v1' } as KubernetesObject, { live: object });
      assert.equal(out.result, 'unchanged');
    }
    assert.equal(applier.writes, before);

    // Someone else edits a field the operator owns: the live version moves, so it applies again.
    await cp.kubectl(['-n', ns, 'patch', 'configmap', 'm', '--type=merge', '-p', '{"data":{"k":"edited"}}']);
    const live = await rest.request<KubernetesObject>('GET', `/api/v1/namespaces/${ns}/configmaps/m`);
    const restored = await applier.apply(configMap(ns, 'm', { k: 'v' }), { live });
    assert.equal(restored.result, 'configured');
    assert.equal(applier.writes, before + 1);
    const stored = await rest.request<{ data: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/configmaps/m`);
    assert.deepEqual(stored.data, { k: 'v' });

    // A changed desired body is applied even when the live version matches the memo.
    const changed = await applier.apply(configMap(ns, 'm', { k: 'w' }), { live: restored.object });
    assert.equal(changed.result, 'configured');
    assert.equal(applier.writes, before + 2);
  });

  it('applies status through the status subresource of a custom resource', async () => {
    const ns = await cp.newNamespace('apply-status');
    const applier = new Applier(kc);
    const gadget = { apiVersion: 'kubetest.mailrelay.dev/v1', kind: 'Gadget', metadata: { namespace: ns, name: 'g' }, spec: { size: 1 }, status: { phase: 'ignored' } };
    assert.equal((await applier.apply(gadget)).result, 'created');
    // The main resource ignores status on a kind with a status subresource.
    let stored = await rest.request<{ status?: unknown }>('GET', `/apis/kubetest.mailrelay.dev/v1/namespaces/${ns}/gadgets/g`);
    assert.equal(stored.status, undefined);

    const out = await applier.applyStatus({ ...gadget, status: { phase: 'Ready' } });
    assert.equal(out.result, 'configured');
    stored = await rest.request<{ status?: unknown }>('GET', `/apis/kubetest.mailrelay.dev/v1/namespaces/${ns}/gadgets/g`);
    assert.deepEqual(stored.status, { phase: 'Ready' });
    assert.equal((await applier.applyStatus({ ...gadget, status: { phase: 'Ready' } })).result, 'unchanged');
  });

  it('surfaces a stale resourceVersion as EOP_CONFLICT and other failures as EOP_APPLY_FAILED', async () => {
    const ns = await cp.newNamespace('apply-conflict');
    const applier = new Applier(kc);
    await applier.apply(configMap(ns, 'c', { k: 'v' }));
    await cp.kubectl(['-n', ns, 'patch', 'configmap', 'c', '--type=merge', '-p', '{"data":{"other":"x"}}']);
    const stale = { ...configMap(ns, 'c', { k: 'v2' }), metadata: { namespace: ns, name: 'c', resourceVersion: '1' } };
    await assert.rejects(applier.apply(stale), (err: unknown) => err instanceof OperatorError && err.code === 'EOP_CONFLICT' && err.status === 409);

    const invalid = configMap(ns, 'Not_A_Valid_Name', { k: 'v' });
    await assert.rejects(applier.apply(invalid), (err: unknown) => err instanceof OperatorError && err.code === 'EOP_APPLY_FAILED' && err.status === 422);
    await assert.rejects(applier.apply({ apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'x' } }), (err: unknown) => err instanceof OperatorError && err.code === 'EOP_UNKNOWN_KIND');
  });

  it("carries the API server's reason, message and causes into the error of an apply it refuses", async () => {
    const ns = await cp.newNamespace('apply-refused');
    const applier = new Applier(kc);
    // Two container ports with one number: what two listeners on 587 and 10587 used to render.
    const statefulSet = {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { namespace: ns, name: 'relay' },
      spec: {
        serviceName: 'relay',
        selector: { matchLabels: { app: 'relay' } },
        template: {
          metadata: { labels: { app: 'relay' } },
          spec: {
            containers: [
              {
                name: 'relay',
                image: 'example.test/relay:1',
                ports: [
                  { name: 'submission', containerPort: 10587, protocol: 'TCP' },
                  { name: 'alt-submission', containerPort: 10587, protocol: 'TCP' },
                ],
              },
            ],
          },
        },
      },
    };
    const err = await applier.apply(statefulSet).then(
      () => assert.fail('the API server accepted duplicate container ports'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof OperatorError && err.code === 'EOP_APPLY_FAILED');
    assert.ok(err.api?.message, 'the Status body is kept');
    assert.ok(err.message.startsWith(`apply StatefulSet ${ns}/relay failed: ${err.status} `), err.message);
    assert.ok(err.message.includes(err.api.message!), `the API server's message is in ${err.message}`);
    assert.match(err.message, /10587/);

    const invalid = (await applier.apply(configMap(ns, 'Not_A_Valid_Name', { k: 'v' })).catch((e: unknown) => e)) as OperatorError;
    assert.match(invalid.message, /failed: 422 Invalid: ConfigMap "Not_A_Valid_Name" is invalid: metadata\.name: Invalid value: "Not_A_Valid_Name"/);
  });

  it('deletes, and reports an object already gone', async () => {
    const ns = await cp.newNamespace('apply-delete');
    const applier = new Applier(kc);
    await applier.apply(configMap(ns, 'd', { k: 'v' }));
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', namespace: ns, name: 'd' };
    assert.equal(await applier.delete(ref), true);
    assert.equal(await applier.delete(ref), false);
    await assert.rejects(rest.request('GET', `/api/v1/namespaces/${ns}/configmaps/d`), (err: unknown) => err instanceof OperatorError && err.code === 'EOP_NOT_FOUND');
    // The memo is gone with the object, so applying again creates it.
    assert.equal((await applier.apply(configMap(ns, 'd', { k: 'v' }))).result, 'created');
  });
});
