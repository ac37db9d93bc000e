import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyCounts, type PodDomainFigures, type WindowCounts } from './relay-figures.ts';
import { currentFleetState, decideBreach, decideFleetPause, decidePodPushes } from './relay-wide-pause.ts';

const THRESHOLDS = { maxBounceRate: 0.1, maxComplaintRate: 0.003, minVolume: 10, pauseOnBreach: true };
const NOW = Date.UTC(2026, 11, 4, 23, 0, 0);

function counts(c: Partial<WindowCounts>): WindowCounts {
  return { ...emptyCounts(), ...c };
}

function pod(ip: string, f: Partial<PodDomainFigures>) {
  return { ip, figures: { window: emptyCounts(), breach: emptyCounts(), paused: false, relayWideSince: 0, resumedAt: 0, categories: new Map(), ...f } };
}

test('a breach is judged on the sums: two pods each under minVolume breach together; at the maximum is no breach', () => {
  // each pod alone: 6 sent, below minVolume 10
  const pods = [pod('10.0.0.1', { breach: counts({ sent: 6, bounced: 1 }) }), pod('10.0.0.2', { breach: counts({ sent: 6, bounced: 1 }) })];
  const sums = counts({ sent: 12, bounced: 2 });
  const d = decideFleetPause(THRESHOLDS, sums, { ...currentFleetState(pods), reason: undefined }, NOW);
  assert.equal(d.decided, true);
  assert.equal(d.pause?.since, NOW);
  assert.match(d.pause!.reason, /^relay-wide: bounce rate 0\.1667 above 0\.1 \(2 hard bounces of 12 sent\)$/);
  assert.equal(decideBreach(THRESHOLDS, counts({ sent: 20, bounced: 2 })), undefined, '0.1 is the maximum, not above it');
  assert.equal(decideBreach(THRESHOLDS, counts({ sent: 9, bounced: 9 })), undefined, 'below minVolume');
  assert.match(decideBreach(THRESHOLDS, counts({ sent: 1000, delivered: 1000, complained: 4 }))!, /complaint rate 0\.004 above 0\.003/);
  assert.equal(decideFleetPause({ ...THRESHOLDS, pauseOnBreach: false }, sums, { pausedSince: 0, resumedAt: 0, reason: undefined }, NOW).pause, undefined);
});

test('a pause held by any pod and newer than every resume stays, with the reason the operator decided, and reaches the pods without it', () => {
  const since = NOW - 60_000;
  const pods = [pod('10.0.0.1', { relayWideSince: since, paused: true }), pod('10.0.0.2', {})];
  const d = decideFleetPause(THRESHOLDS, emptyCounts(), { ...currentFleetState(pods), reason: 'relay-wide: bounce rate 0.2 above 0.1' }, NOW);
  assert.deepEqual(d, { pause: { since, reason: 'relay-wide: bounce rate 0.2 above 0.1' }, decided: false, resumedAt: 0 });
  assert.deepEqual(decidePodPushes(d, pods), [{ ip: '10.0.0.2', action: 'pause', pause: d.pause }]);
  const unknown = decideFleetPause(THRESHOLDS, emptyCounts(), { ...currentFleetState(pods), reason: undefined }, NOW);
  assert.match(unknown.pause!.reason, /relay-wide pause since 2026-12-04T22:59:00\.000Z/, 'an operator restarted since still names the pause');
});

test('a resume on one pod wins over the older pause and is carried to every pod behind it; the sums do not pause again at once', () => {
  const since = NOW - 60_000;
  const resumed = NOW - 1000;
  const pods = [pod('10.0.0.1', { resumedAt: resumed }), pod('10.0.0.2', { relayWideSince: since, paused: true }), pod('10.0.0.3', { resumedAt: resumed - 5000 })];
  // the breach window was reset on the resumed pod: the sums are of what happened since
  const d = decideFleetPause(THRESHOLDS, counts({ sent: 3 }), { ...currentFleetState(pods), reason: undefined }, NOW);
  assert.deepEqual(d, { pause: undefined, decided: false, resumedAt: resumed });
  assert.deepEqual(decidePodPushes(d, pods), [
    { ip: '10.0.0.2', action: 'resume', before: resumed },
    { ip: '10.0.0.3', action: 'resume', before: resumed },
  ]);
  // once carried, every pod is at the same resume: nothing more to push
  const after = [pod('10.0.0.1', { resumedAt: resumed }), pod('10.0.0.2', { resumedAt: resumed }), pod('10.0.0.3', { resumedAt: resumed })];
  assert.deepEqual(decidePodPushes(decideFleetPause(THRESHOLDS, emptyCounts(), { ...currentFleetState(after), reason: undefined }, NOW), after), []);
});

test('the breach window of a pod that has not had the resume yet does not pause the domain again: the resume reaches it first', () => {
  const since = NOW - 60_000;
  const resumed = NOW - 1000;
  // pod 2 still holds the pause and the bounces that caused it; pod 1 resumed and reset its window
  const pods = [pod('10.0.0.1', { resumedAt: resumed }), pod('10.0.0.2', { relayWideSince: since, paused: true, breach: counts({ sent: 20, bounced: 10 }) })];
  const d = decideFleetPause(THRESHOLDS, counts({ sent: 20, bounced: 10 }), { ...currentFleetState(pods), reason: undefined }, NOW);
  assert.deepEqual(d, { pause: undefined, decided: false, resumedAt: resumed });
  assert.deepEqual(decidePodPushes(d, pods), [{ ip: '10.0.0.2', action: 'resume', before: resumed }]);
  // caught up (its window reset by the resume), a new breach pauses again, after the resume
  const caughtUp = [pod('10.0.0.1', { resumedAt: resumed }), pod('10.0.0.2', { resumedAt: resumed })];
  assert.equal(decideFleetPause(THRESHOLDS, counts({ sent: 20, bounced: 10 }), { ...currentFleetState(caughtUp), reason: undefined }, NOW).decided, true);
});

test('a new pause comes after the latest resume even when a pod clock runs ahead', () => {
  const ahead = NOW + 30_000;
  const pods = [pod('10.0.0.1', { resumedAt: ahead })];
  const d = decideFleetPause(THRESHOLDS, counts({ sent: 100, bounced: 50 }), { ...currentFleetState(pods), reason: undefined }, NOW);
  assert.equal(d.pause?.since, ahead + 1);
  assert.deepEqual(decidePodPushes(d, pods), [{ ip: '10.0.0.1', action: 'pause', pause: d.pause }]);
  assert.deepEqual(decidePodPushes(d, [pod('10.0.0.1', { resumedAt: ahead, relayWideSince: ahead + 1 })]), [], 'a pod holding it gets nothing again');
});
