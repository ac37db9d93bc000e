import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { getSharedControlPlane } from '../../../test/control-plane/control-plane.ts';
import type { ControlPlane } from '../../../test/control-plane/control-plane.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../../../test/control-plane/test-timeouts.ts';
import { OperatorError } from '../errors.ts';
import { LeaderElector } from './leader-election.ts';
import type { LeaderElectorOptions } from './leader-election.ts';
import { RestClient } from './rest-client.ts';
import type { RequestOptions } from './rest-client.ts';
import { waitFor as waitUntil } from '../../../test/helpers/wait-for.ts';

/** The shared poll, with the longer default these cluster tests need. */
const waitFor = (what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> => waitUntil(what, cond, timeoutMs);

interface Contender {
  elector: LeaderElector;
  log: string[];
  done: Promise<void>;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseTransitions?: number;
}

describe('LeaderElector', { timeout: TEST_TIMEOUT_MS }, () => {
  let cp: ControlPlane;
  let kc: KubeConfig;
  let rest: RestClient;
  const contenders: Contender[] = [];
  /** Everything that happened, in order, across contenders. */
  const timeline: string[] = [];

  before(async () => {
    cp = await getSharedControlPlane();
    kc = cp.kubeConfig();
    rest = new RestClient(kc);
  }, { timeout: SETUP_TIMEOUT_MS });

  after(async () => {
    await Promise.all(contenders.map((c) => c.elector.stop()));
  });

  function contend(namespace: string, identity: string, extra: Partial<LeaderElectorOptions> = {}): Contender {
    const log: string[] = [];
    const elector = new LeaderElector(kc, { namespace, name: 'operator', identity, leaseDurationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 200, ...extra });
    const note = (what: string): void => {
      log.push(what);
      timeline.push(`${identity} ${what}`);
    };
    const done = elector.run({ onStartedLeading: () => note('started'), onStoppedLeading: () => note('stopped') });
    const c = { elector, log, done };
    contenders.push(c);
    return c;
  }
  const lease = (ns: string): Promise<{ spec: LeaseSpec }> => rest.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/operator`);

  it('elects exactly one of two contenders, and the other takes over at once after release()', async () => {
    const ns = await cp.newNamespace('lease-release');
    // A long lease: a takeover well inside it can only come from the release.
    const opts = { leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 200 };
    const a = contend(ns, 'a', opts);
    const b = contend(ns, 'b', opts);
    await waitFor('a leader', () => a.elector.isLeader || b.elector.isLeader);
    for (let i = 0; i < 10; i++) {
      assert.equal(Number(a.elector.isLeader) + Number(b.elector.isLeader), 1);
      await sleep(100);
    }
    const [leader, follower] = a.elector.isLeader ? [a, b] : [b, a];
    assert.equal((await lease(ns)).spec.holderIdentity, leader === a ? 'a' : 'b');
    assert.deepEqual(follower.log, []);

    await leader.elector.release();
    await leader.done;
    assert.equal(leader.elector.isLeader, false);
    await waitFor('the follower to lead', () => follower.elector.isLeader, 10_000);
    assert.deepEqual(follower.log, ['started']);
    assert.deepEqual(leader.log, ['started'], 'release() is not a loss: onStoppedLeading is not called');
    const spec = (await lease(ns)).spec;
    assert.equal(spec.holderIdentity, follower === a ? 'a' : 'b');
    assert.equal(spec.leaseTransitions, 1);
    await follower.elector.release();
  });

  it('hands over after the lease expires when the leader stops renewing without releasing', async () => {
    const ns = await cp.newNamespace('lease-expire');
    const a = contend(ns, 'a');
    await waitFor('a to lead', () => a.elector.isLeader);
    const b = contend(ns, 'b');
    await sleep(500);
    assert.equal(b.elector.isLeader, false, 'b waits while a renews');
    await a.elector.stop();
    await waitFor('b to lead', () => b.elector.isLeader);
    assert.equal((await lease(ns)).spec.holderIdentity, 'b');
    assert.deepEqual(a.log, ['started']);
    await b.elector.stop();
  });

  it('steps down when another holder takes the lease', async () => {
    const ns = await cp.newNamespace('lease-taken');
    const a = contend(ns, 'a');
    await waitFor('a to lead', () => a.elector.isLeader);
    const current = await rest.request<{ spec: LeaseSpec }>('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/operator`);
    await rest.request('PUT', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/operator`, { body: { ...current, spec: { ...current.spec, holderIdentity: 'intruder' } } });
    await a.done;
    assert.deepEqual(a.log, ['started', 'stopped']);
    assert.equal(a.elector.isLeader, false);
  });

  it('steps down when it cannot renew within the deadline, before a peer can take over', async () => {
    const ns = await cp.newNamespace('lease-partition');
    let partitioned = false;
    /** A network partition: the API server is there, this contender cannot reach it. */
    class PartitionedClient extends RestClient {
      override request<T>(method: string, path: string, opts?: RequestOptions): Promise<T> {
        if (partitioned) return Promise.reject(new OperatorError('EOP_API_REQUEST', `${method} ${path}: partitioned`));
        return super.request(method, path, opts);
      }
    }
    const a = contend(ns, 'a', { client: new PartitionedClient(kc) });
    await waitFor('a to lead', () => a.elector.isLeader);
    const b = contend(ns, 'b');
    timeline.length = 0;
    partitioned = true;
    await a.done;
    await waitFor('b to lead', () => b.elector.isLeader);
    assert.deepEqual(timeline, ['a stopped', 'b started']);
    await b.elector.release();
  });

  it('rejects timings where a leader could outlive its lease', () => {
    assert.throws(() => new LeaderElector(kc, { namespace: 'x', name: 'y', identity: 'z', leaseDurationMs: 1000, renewDeadlineMs: 1000 }), (err: unknown) => err instanceof OperatorError && err.code === 'EOP_LEASE_CONFIG');
  });
});
