import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import {
  ApiException,
  ApiextensionsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { pinnedVersion } from './binaries.ts';
import { getSharedControlPlane } from './control-plane.ts';
import type { ControlPlane } from './control-plane.ts';
import { goModuleDirs } from './paths.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from './test-timeouts.ts';
import { waitForEstablished } from './crd-established.ts';

const group = 'cp-test.example.com';
const plural = 'widgets';
const version = 'v1';

const crdYaml = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.${group}
spec:
  group: ${group}
  scope: Namespaced
  names: { plural: ${plural}, singular: widget, kind: Widget }
  versions:
    - name: ${version}
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties: { size: { type: integer } }
            status:
              type: object
              properties: { phase: { type: string } }
`;

interface Widget {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: { size?: number };
  status?: { phase?: string };
}

/** Idempotent, so each test can run alone (e.g. with --test-name-pattern). */
async function applyWidgetCrd(cp: ControlPlane): Promise<string> {
  const out = await cp.kubectl(['apply', '-f', '-'], { input: crdYaml });
  await waitForEstablished(cp, [`${plural}.${group}`]);
  return out;
}

/** Keeps a controller-style wait from hanging the suite if the event never comes. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Right after a CRD is Established the apiserver answers watches with 429 until
 * that resource's watch cache is ready; informers retry, and so does this.
 */
async function openWatch(kc: KubeConfig, path: string, onEvent: (phase: string, obj: Widget) => void): Promise<AbortController> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let refused: unknown;
    let open = true;
    const controller = await new Watch(kc).watch(path, {}, onEvent, (err: unknown) => {
      if (open) refused = err ?? new Error('watch closed at once');
    });
    open = false;
    if (refused === undefined) return controller;
    const status = (refused as { statusCode?: number }).statusCode;
    if (status !== 429 || Date.now() > deadline) throw refused;
    await sleep(200);
  }
}

function statusCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

describe('test control plane', () => {
  let cp: ControlPlane;

  before(async () => {
    const started = Date.now();
    cp = await getSharedControlPlane();
    console.error(`[control-plane] started in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  }, { timeout: SETUP_TIMEOUT_MS });

  it('serves the pinned Kubernetes version on loopback only', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    const out = JSON.parse(await cp.kubectl(['version', '-o', 'json'])) as { serverVersion?: { gitVersion?: string } };
    const expected = process.env.KUBEBUILDER_ASSETS ? /^v1\.\d+\.\d+/ : new RegExp(`^${pinnedVersion(goModuleDirs.kubeApiserver, 'k8s.io/kubernetes').replace(/\./g, '\\.')}$`);
    assert.match(out.serverVersion?.gitVersion ?? '(none)', expected);
  });

  it('establishes a CRD applied with the extracted kubectl', { timeout: TEST_TIMEOUT_MS }, async () => {
    const applied = await applyWidgetCrd(cp);
    assert.match(applied, new RegExp(`${plural}\\.${group}`));

    const crd = await cp.kubeConfig().makeApiClient(ApiextensionsV1Api).readCustomResourceDefinition({ name: `${plural}.${group}` });
    const established = crd.status?.conditions?.find((c) => c.type === 'Established');
    assert.equal(established?.status, 'True');
  });

  it('creates, watches and patches the status of a custom resource through client-node', { timeout: TEST_TIMEOUT_MS }, async () => {
    await applyWidgetCrd(cp);
    const kc = cp.kubeConfig();
    const namespace = await cp.newNamespace('widgets');
    const objects = kc.makeApiClient(CustomObjectsApi);

    const events: Array<{ phase: string; widget: Widget }> = [];
    let sawReady!: () => void;
    const ready = new Promise<void>((resolve) => (sawReady = resolve));
    const watch = await openWatch(kc, `/apis/${group}/${version}/namespaces/${namespace}/${plural}`, (phase, obj: Widget) => {
      events.push({ phase, widget: obj });
      if (phase === 'MODIFIED' && obj.status?.phase === 'Ready') sawReady();
    });
    try {
      await objects.createNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        body: { apiVersion: `${group}/${version}`, kind: 'Widget', metadata: { name: 'w1' }, spec: { size: 3 } },
      });

      // A write to the main resource must not touch status once the status subresource exists.
      await objects.patchNamespacedCustomObject(
        { group, version, namespace, plural, name: 'w1', body: { spec: { size: 4 }, status: { phase: 'Ignored' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await objects.patchNamespacedCustomObjectStatus(
        { group, version, namespace, plural, name: 'w1', body: { status: { phase: 'Ready' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );

      await within(20_000, 'the status change on the watch', ready);
      assert.equal(events[0]?.phase, 'ADDED');
      assert.equal(events[0]?.widget.metadata.name, 'w1');
      assert.ok(!events.some((e) => e.widget.status?.phase === 'Ignored'), 'status changed through the main resource');

      const stored = (await objects.getNamespacedCustomObject({ group, version, namespace, plural, name: 'w1' })) as Widget;
      assert.deepEqual(stored.spec, { size: 4 });
      assert.deepEqual(stored.status, { phase: 'Ready' });
    } finally {
      watch.abort();
    }
  });

  it('enforces RBAC for a service account token from the TokenRequest API', { timeout: TEST_TIMEOUT_MS }, async () => {
    const kc = cp.kubeConfig();
    const namespace = await cp.newNamespace('rbac');
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'robot' } } });
    const tokenRequest = await core.createNamespacedServiceAccountToken({
      name: 'robot',
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tokenRequest.status?.token;
    assert.ok(token, 'TokenRequest returned no token');

    const cluster = kc.getCurrentCluster();
    assert.ok(cluster);
    const robot = new KubeConfig();
    robot.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'robot', token }],
      contexts: [{ name: 'robot', cluster: cluster.name, user: 'robot' }],
      currentContext: 'robot',
    });

    // Authentication works (so a 403 below is RBAC, not a rejected token).
    const review = await robot.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    assert.equal(review.status?.userInfo?.username, `system:serviceaccount:${namespace}:robot`);

    const robotCore = robot.makeApiClient(CoreV1Api);
    const denied = await robotCore.listNamespacedConfigMap({ namespace }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.equal(statusCode(denied), 403, `expected 403, got ${String(denied)}`);

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: 'read-configmaps' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'robot-reads-configmaps' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
        subjects: [{ kind: 'ServiceAccount', name: 'robot', namespace }],
      },
    });
    // The authorizer reads roles from an informer cache, so the grant lands shortly after the write.
    let lastError: unknown;
    for (let i = 0; i < 50; i++) {
      try {
        await robotCore.listNamespacedConfigMap({ namespace });
        lastError = undefined;
        break;
      } catch (err) {
        lastError = err;
        await sleep(100);
      }
    }
    assert.equal(lastError, undefined, `still denied after the RoleBinding: ${String(lastError)}`);

    const stillDenied = await robotCore.listNamespacedSecret({ namespace }).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.equal(statusCode(stillDenied), 403);
  });
});
