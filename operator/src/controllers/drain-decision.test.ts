import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideDrain, describeDrain, type DrainInput, type DrainPod, type DrainReport } from './drain-decision.ts';

const pod = (ordinal: number, over: Partial<DrainPod> = {}): DrainPod => ({ name: `mr-${ordinal}`, ordinal, ip: `10.0.0.${ordinal + 1}`, ready: true, serving: true, ...over });

function input(over: Partial<DrainInput>): DrainInput {
  return {
    desired: 3,
    current: 3,
    pods: [pod(0), pod(1), pod(2)],
    reports: new Map(),
    status: undefined,
    podName: (n) => `mr-${n}`,
    claimName: (n) => `spool-mr-${n}`,
    adminPort: 8026,
    now: '2026-12-04T23:00:00Z',
    ...over,
  };
}

const reports = (entries: Record<string, DrainReport | undefined>) => new Map(Object.entries(entries));

test('steady state, scale-up, and a StatefulSet scaled up by hand whose extra pods never ran: spec.replicas, nothing drains', () => {
  for (const [desired, current] of [
    [3, 3],
    [4, 3],
    [2, undefined],
    [3, 5],
  ] as const) {
    const d = decideDrain(input({ desired, current }));
    assert.equal(d.replicas, desired);
    assert.deepEqual([d.unserve, d.drain, d.resume, d.deleteClaims, d.events, d.status], [[], [], [], [], [], undefined]);
  }
});

test('scale-down, first pass: the leaving pods leave the Service first, the StatefulSet keeps its size, DrainStarted', () => {
  const d = decideDrain(input({ desired: 1 }));
  assert.equal(d.replicas, 3);
  assert.deepEqual(d.unserve, ['mr-1', 'mr-2']);
  assert.deepEqual(d.drain, [], 'no drain before the pods are out of the Service');
  assert.deepEqual(d.status, { fromReplicas: 3, toReplicas: 1, startedAt: '2026-12-04T23:00:00Z', pods: [{ name: 'mr-1' }, { name: 'mr-2' }] });
  assert.deepEqual(d.events.map((e) => e.reason), ['DrainStarted']);
  assert.ok(d.requeueAfterMs! > 0);
});

test('scale-down, out of the Service: each leaving pod is asked to drain towards the staying ready pods until it reports drained', () => {
  const status = { fromReplicas: 3, toReplicas: 1, startedAt: '2026-12-04T22:59:00Z', pods: [{ name: 'mr-1' }, { name: 'mr-2' }] };
  const pods = [pod(0), pod(1, { serving: false, ready: false }), pod(2, { serving: false, ready: false })];
  const d = decideDrain(input({ desired: 1, pods, status, reports: reports({ 'mr-1': { state: 'draining', left: 7 }, 'mr-2': { state: 'drained', left: 0 } }) }));
  assert.equal(d.replicas, 3);
  assert.deepEqual(d.drain, [{ pod: 'mr-1', targets: ['10.0.0.1:8026'] }]);
  assert.deepEqual(d.status!.pods, [{ name: 'mr-1', left: 7 }, { name: 'mr-2', left: 0, drained: true }]);
  assert.equal(d.status!.startedAt, '2026-12-04T22:59:00Z', 'a resumed drain keeps its start');
  assert.deepEqual(d.events, []);
  assert.match(describeDrain(d.status).message, /from 3 to 1 pods: 7 messages left/);
});

test('scale-down: no ready staying pod, no drain; a pod that does not answer is waited for', () => {
  const pods = [pod(0, { ready: false }), pod(1, { serving: false })];
  const d = decideDrain(input({ desired: 1, current: 2, pods }));
  assert.deepEqual(d.drain, []);
  assert.equal(d.replicas, 2);
  const unanswered = decideDrain(input({ desired: 1, current: 2, pods: [pod(0), pod(1, { serving: false })] }));
  assert.deepEqual(unanswered.drain, [{ pod: 'mr-1', targets: ['10.0.0.1:8026'] }]);
  assert.deepEqual(unanswered.status!.pods, [{ name: 'mr-1' }]);
  assert.match(describeDrain(unanswered.status).message, /1 pods not answering/);
  // a leaving pod seen in this drain and missing now (being recreated): the StatefulSet does not shrink
  const seen = { fromReplicas: 3, toReplicas: 1, startedAt: 'x', pods: [{ name: 'mr-1', left: 5 }, { name: 'mr-2', left: 1 }] };
  const missing = decideDrain(input({ desired: 1, current: 3, pods: [pod(0), pod(2, { serving: false })], status: seen, reports: reports({ 'mr-2': { state: 'drained', left: 0 } }) }));
  assert.equal(missing.replicas, 3);
  assert.deepEqual(missing.status!.pods, [{ name: 'mr-1' }, { name: 'mr-2', left: 0, drained: true }]);
  // never seen: it had nothing to hand over
  const never = decideDrain(input({ desired: 1, current: 3, pods: [pod(0), pod(2, { serving: false })], status: { ...seen, pods: [{ name: 'mr-1' }, { name: 'mr-2', left: 1 }] }, reports: reports({ 'mr-2': { state: 'drained', left: 0 } }) }));
  assert.equal(never.replicas, 1);
});

test('every leaving pod drained and out of the Service: the StatefulSet shrinks; a drained report from a serving pod does not count', () => {
  const pods = [pod(0), pod(1, { serving: false }), pod(2, { serving: false })];
  const all = reports({ 'mr-1': { state: 'drained', left: 0 }, 'mr-2': { state: 'drained', left: 0 } });
  const d = decideDrain(input({ desired: 1, pods, reports: all, status: { fromReplicas: 3, toReplicas: 1, startedAt: 'x', pods: [] } }));
  assert.equal(d.replicas, 1);
  assert.deepEqual(d.events.map((e) => e.reason), ['DrainCompleted']);
  const serving = decideDrain(input({ desired: 1, pods: [pod(0), pod(1), pod(2, { serving: false })], reports: all }));
  assert.equal(serving.replicas, 3);
  const notEmpty = decideDrain(input({ desired: 1, pods, reports: reports({ 'mr-1': { state: 'drained', left: 1 }, 'mr-2': { state: 'drained', left: 0 } }) }));
  assert.equal(notEmpty.replicas, 3);
});

test('after the shrink: claims of drained pods are deleted once the pods are gone, others kept with a warning; DrainFinished', () => {
  const status = { fromReplicas: 3, toReplicas: 1, startedAt: 'x', pods: [{ name: 'mr-1', left: 0, drained: true }, { name: 'mr-2', left: 0 }] };
  const terminating = decideDrain(input({ desired: 1, current: 1, pods: [pod(0), pod(1, { serving: false })], status }));
  assert.deepEqual(terminating.deleteClaims, []);
  assert.deepEqual(terminating.status, status, 'kept until the pods are gone');
  // a cached status older than the one written with the shrink: the pods' answers mark them drained
  const stale = { ...status, pods: [{ name: 'mr-1', left: 9 }, { name: 'mr-2', left: 4 }] };
  const fresh = decideDrain(input({ desired: 1, current: 1, pods: [pod(0), pod(1, { serving: false }), pod(2, { serving: false })], status: stale, reports: reports({ 'mr-1': { state: 'drained', left: 0 }, 'mr-2': { state: 'drained', left: 0 } }) }));
  assert.deepEqual(fresh.status!.pods, [{ name: 'mr-1', left: 0, drained: true }, { name: 'mr-2', left: 0, drained: true }]);
  const gone = decideDrain(input({ desired: 1, current: 1, pods: [pod(0)], status }));
  assert.deepEqual(gone.deleteClaims, ['spool-mr-1']);
  assert.equal(gone.status, undefined);
  assert.deepEqual(gone.events.map((e) => e.reason), ['DrainFinished', 'QueueRetained']);
  assert.match(gone.events[1]!.message, /spool-mr-2/);
});

test('scale-up during a drain: the pods kept after all go back into the Service (restarting if they had started draining), nothing is deleted', () => {
  const status = { fromReplicas: 3, toReplicas: 1, startedAt: 'x', pods: [{ name: 'mr-1', left: 4 }, { name: 'mr-2', left: 0, drained: true }] };
  const pods = [pod(0), pod(1, { serving: false }), pod(2, { serving: false })];
  const back = decideDrain(input({ desired: 3, pods, status }));
  assert.equal(back.replicas, 3);
  assert.deepEqual(back.resume, ['mr-1', 'mr-2']);
  assert.deepEqual(back.deleteClaims, []);
  assert.deepEqual(back.events.map((e) => e.reason), ['DrainCancelled']);
  // 3 -> 1 becomes 3 -> 2 mid-drain: mr-1 stays and resumes, mr-2 goes on draining
  const partial = decideDrain(input({ desired: 2, pods, status, reports: reports({ 'mr-2': { state: 'draining', left: 3 } }) }));
  assert.deepEqual(partial.resume, ['mr-1']);
  assert.deepEqual(partial.drain, [{ pod: 'mr-2', targets: ['10.0.0.1:8026'] }], 'not towards the pod that is coming back');
  assert.equal(partial.replicas, 3);
});
