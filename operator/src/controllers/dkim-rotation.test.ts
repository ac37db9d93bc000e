import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Reasons } from '../api/v1alpha1/types.ts';
import { buildRotationSelector } from '../resources/dkim-rotation-selector.ts';
import { decideRotation, parseRotationDuration, parseRotationPolicy, type RotationInputs, type RotationKey, type RotationState } from './dkim-rotation.ts';
import { sampleDomain } from '../resources/fixtures.ts';

const DAY = 86_400_000;
const T0 = new Date('2026-12-04T10:00:00Z');
const at = (days: number) => new Date(T0.getTime() + days * DAY);
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const policy = { every: '90d', everyMs: 90 * DAY, graceMs: 7 * DAY };
const key = (selector: string, createdAt = iso(T0)): RotationKey => ({ selector, secretName: `news-dkim-${selector}`, createdAt });
const steady: RotationState = { active: { selector: 'mail', secretName: 'news-dkim-mail' }, since: iso(T0) };
const published = { outcome: 'published', result: 'published' } as const;
const missing = { outcome: 'missing', result: 'no TXT record at mr2027031._domainkey.example.com' } as const;

const decide = (over: Partial<RotationInputs>) =>
  decideRotation({ sendingDomain: 'news', domain: 'example.com', policy, state: steady, keys: [key('mail')], now: at(1), ...over });

describe('decideRotation', () => {
  it('records when the active key began and the rotateNow token on first sight, without rotating', () => {
    const d = decide({ state: { active: steady.active }, policy: { ...policy, rotateNow: 'a' } });
    assert.equal(d.step, 'record');
    assert.deepEqual(d.next, { ...steady, since: iso(at(1)), rotateNow: 'a' });
    assert.equal(d.event, undefined);
  });

  it('does nothing before the key is due, and asks to come back when it is', () => {
    const d = decide({ now: at(30) });
    assert.equal(d.step, 'none');
    assert.equal(d.next, steady);
    assert.equal(d.requeueAfterMs, 60 * DAY);
    assert.match(d.message, /next rotation at 2027-03-04T10:00:00Z/);
    assert.equal(d.reason, undefined, 'a key never rotated keeps the reason the controller gives it');
  });

  it('without every, rotates only on demand: a changed rotateNow token starts one', () => {
    const onDemand = { graceMs: 7 * DAY };
    assert.equal(decide({ policy: onDemand, now: at(400) }).step, 'none');
    assert.equal(decide({ policy: { ...onDemand, rotateNow: 'x' }, state: { ...steady, rotateNow: 'x' }, now: at(400) }).step, 'none');
    const d = decide({ policy: { ...onDemand, rotateNow: 'y' }, state: { ...steady, rotateNow: 'x' } });
    assert.equal(d.step, 'start');
    assert.equal(d.next.rotateNow, 'y');
    assert.match(d.message, /rotateNow changed/);
  });

  it('starts a rotation when due: a new selector, pending and unverified, the active key unchanged', () => {
    const d = decide({ now: at(90) });
    assert.equal(d.step, 'start');
    assert.equal(d.reason, Reasons.RotationPending);
    assert.deepEqual(d.next.active, steady.active);
    assert.deepEqual(d.next.pending, { selector: 'mr2027031', secretName: 'news-dkim-mr2027031', createdAt: iso(at(90)), verified: false });
    assert.equal(d.event?.reason, Reasons.RotationPending);
    assert.match(d.message, /publish its record mr2027031\._domainkey\.example\.com/);
  });

  it('adopts a key Secret made by a start whose status write was lost, instead of making a second one', () => {
    const orphan = key('mr2027031', iso(at(90)));
    const d = decide({ now: at(90), keys: [key('mail'), orphan] });
    assert.equal(d.step, 'adopt');
    assert.deepEqual(d.next.pending, { selector: 'mr2027031', secretName: orphan.secretName, createdAt: orphan.createdAt, verified: false });
    // an old key of a selector set by hand before rotation is no orphan: it would reuse a selector
    const old = decide({ now: at(90), keys: [key('mail'), key('mr2026121', iso(at(-10))), key('legacy', iso(at(5)))] });
    assert.equal(old.step, 'start');
    assert.equal(old.next.pending?.selector, 'mr2027031');
  });

  const pendingState: RotationState = { ...steady, pending: { selector: 'mr2027031', secretName: 'news-dkim-mr2027031', createdAt: iso(at(90)), verified: false } };
  const pendingKeys = [key('mail'), key('mr2027031', iso(at(90)))];

  it('keeps signing with the active key while the pending record is not served', () => {
    for (const check of [missing, { outcome: 'mismatch', result: 'differs' } as const, { outcome: 'failed', result: 'ETIMEOUT' } as const, undefined]) {
      const d = decide({ now: at(95), state: pendingState, keys: pendingKeys, pendingCheck: check });
      assert.equal(d.step, 'none');
      assert.equal(d.next.active.selector, 'mail');
      assert.equal(d.reason, Reasons.RotationPending);
    }
  });

  it('marks the pending key verified when DNS serves its record, and switches only at a later reconcile that still sees it', () => {
    const verified = decide({ now: at(95), state: pendingState, keys: pendingKeys, pendingCheck: published });
    assert.equal(verified.step, 'verified');
    assert.equal(verified.next.active.selector, 'mail', 'not yet');
    assert.equal(verified.next.pending?.verified, true);
    assert.equal(verified.reason, Reasons.RotationVerified);

    const lost = decide({ now: at(95), state: verified.next, keys: pendingKeys, pendingCheck: missing });
    assert.equal(lost.step, 'unverified');
    assert.equal(lost.next.pending?.verified, false);
    assert.equal(lost.next.active.selector, 'mail');

    const switched = decide({ now: at(96), state: verified.next, keys: pendingKeys, pendingCheck: published });
    assert.equal(switched.step, 'switch');
    assert.equal(switched.reason, Reasons.Rotated);
    assert.deepEqual(switched.next, {
      active: { selector: 'mr2027031', secretName: 'news-dkim-mr2027031' },
      since: iso(at(96)),
      retiring: { selector: 'mail', secretName: 'news-dkim-mail', until: iso(at(103)) },
    });
    assert.equal(switched.requeueAfterMs, 7 * DAY);
  });

  const graceState: RotationState = {
    active: { selector: 'mr2027031', secretName: 'news-dkim-mr2027031' },
    since: iso(at(96)),
    retiring: { selector: 'mail', secretName: 'news-dkim-mail', until: iso(at(103)) },
  };

  it('keeps the previous key through the grace period, then retires it', () => {
    const during = decide({ now: at(100), state: graceState, keys: pendingKeys });
    assert.equal(during.step, 'none');
    assert.equal(during.reason, Reasons.Rotated);
    assert.equal(during.requeueAfterMs, 3 * DAY);
    const after = decide({ now: at(103), state: graceState, keys: pendingKeys });
    assert.equal(after.step, 'retire');
    assert.deepEqual(after.next, { active: graceState.active, since: graceState.since });
    assert.equal(after.event?.reason, Reasons.RotationRetired);
    const later = decide({ now: at(104), state: after.next, keys: [key('mr2027031', iso(at(90)))] });
    assert.equal(later.step, 'none');
    assert.equal(later.reason, Reasons.RotationRetired);
  });

  it('lets a due rotation wait while the previous key is still in its grace period: one rotation at a time', () => {
    const d = decide({ now: at(100), state: { ...graceState, rotateNow: 'a' }, policy: { ...policy, rotateNow: 'b' }, keys: pendingKeys });
    assert.equal(d.step, 'none');
    assert.match(d.message, /starts when mail retires/);
  });

  it('starts again under a new selector when the pending key Secret was deleted', () => {
    const d = decide({ now: at(95), state: pendingState, keys: [key('mail')], pendingCheck: published });
    assert.equal(d.step, 'start');
    assert.equal(d.next.pending?.selector, 'mr2027032', 'never the deleted one again');
  });
});

describe('buildRotationSelector', () => {
  it('numbers selectors within the UTC month, past every one known', () => {
    assert.equal(buildRotationSelector(new Date('2026-12-31T23:59:59Z'), []), 'mr2026121');
    assert.equal(buildRotationSelector(new Date('2026-12-01T00:00:00Z'), ['mail', 'mr2026121', 'mr20261210', 'mr2026111']), 'mr20261211');
    assert.equal(buildRotationSelector(new Date('2027-01-01T00:00:00Z'), ['mr2026129']), 'mr2027011');
  });
});

describe('parseRotationPolicy', () => {
  it('reads durations in minutes, hours and days, and none for a key of the user’s own', () => {
    assert.equal(parseRotationDuration('90d'), 90 * DAY);
    assert.equal(parseRotationDuration('36h'), 1.5 * DAY);
    assert.equal(parseRotationDuration('5s'), undefined);
    const sd = sampleDomain('news', 'example.com');
    assert.equal(parseRotationPolicy(sd), undefined);
    sd.spec.dkim.rotation = { every: '30m', gracePeriod: '2h', rotateNow: 't' };
    assert.deepEqual(parseRotationPolicy(sd), { every: '30m', everyMs: 1_800_000, graceMs: 7_200_000, rotateNow: 't' });
    sd.spec.dkim.secretRef = { name: 'mine', key: 'tls.key' };
    assert.equal(parseRotationPolicy(sd), undefined);
  });
});
