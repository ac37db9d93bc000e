import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EVENT_TYPES } from '../config/schema.ts';
import { buildDeferredEvent, buildDeliveredEvent } from './build-events.ts';
import type { DeferralPhase } from './event-types.ts';
import { decideRoute } from './route-event.ts';

const delivered = (domain?: string) => ({ seq: 1, event: buildDeliveredEvent({ queueId: 'Q', ...(domain ? { domain } : {}) }, { recipient: 'a@b.test', attempt: 1, reply: '250', time: 0 }) });
const deferred = (phase: DeferralPhase) => ({ seq: 1, phase, event: buildDeferredEvent({ queueId: 'Q', domain: 'a.test' }, { recipient: 'r@x.test', attempt: 1, reply: '451', time: 0, nextAttemptAt: 0 }) });

test("a domain's webhook gets only that domain's events; a relay webhook gets every domain's and those of none", () => {
  const domainHook = { domain: 'a.test', events: EVENT_TYPES, deferrals: 'every' as const };
  const relayHook = { domain: undefined, events: EVENT_TYPES, deferrals: 'every' as const };
  assert.equal(decideRoute(domainHook, delivered('a.test')), true);
  assert.equal(decideRoute(domainHook, delivered('b.test')), false);
  assert.equal(decideRoute(domainHook, delivered()), false);
  assert.equal(decideRoute(relayHook, delivered('b.test')), true);
  assert.equal(decideRoute(relayHook, delivered()), true);
});

test('only the subscribed kinds', () => {
  assert.equal(decideRoute({ domain: undefined, events: ['bounced'], deferrals: 'every' }, delivered('a.test')), false);
  assert.equal(decideRoute({ domain: undefined, events: ['delivered'], deferrals: 'every' }, delivered('a.test')), true);
});

test('every: each deferral but not the replayed last; first-and-last: the first and the replayed last only', () => {
  const every = { domain: undefined, events: EVENT_TYPES, deferrals: 'every' as const };
  const firstAndLast = { domain: undefined, events: EVENT_TYPES, deferrals: 'first-and-last' as const };
  assert.deepEqual((['first', 'middle', 'last'] as const).map((p) => decideRoute(every, deferred(p))), [true, true, false]);
  assert.deepEqual((['first', 'middle', 'last'] as const).map((p) => decideRoute(firstAndLast, deferred(p))), [true, false, true]);
});
