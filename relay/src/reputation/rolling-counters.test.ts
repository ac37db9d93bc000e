import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DAY_MS, RollingCounters, ratesOf } from './rolling-counters.ts';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const MIN = 60_000;

test('counts fall out of the 1 h and 24 h windows as the minutes pass', () => {
  const c = new RollingCounters();
  c.add('sent', T0 - 23 * 3_600_000);
  c.add('sent', T0 - 30 * MIN, 2);
  c.add('hardBounces', T0);
  assert.equal(c.sum(T0, 3_600_000).sent, 2);
  assert.equal(c.sum(T0, DAY_MS).sent, 3);
  assert.equal(c.sum(T0 + 2 * 3_600_000, DAY_MS).sent, 2, 'the oldest bucket is 25 h old now');
  assert.equal(c.sum(T0 + DAY_MS, DAY_MS).hardBounces, 0);
});

test('a bucket reused a day later starts from zero, so memory stays at one day of minutes', () => {
  const c = new RollingCounters();
  c.add('deferrals', T0, 5);
  c.add('deferrals', T0 + DAY_MS, 1);
  assert.equal(c.sum(T0 + DAY_MS, DAY_MS).deferrals, 1);
});

test('buckets survive a round trip through their persisted form; malformed records are skipped', () => {
  const c = new RollingCounters();
  c.add('sent', T0 - 2 * 3_600_000, 10);
  c.add('complaints', T0 - MIN, 1);
  c.add('delivered', T0 - 2 * DAY_MS, 99);
  const records = JSON.parse(JSON.stringify(c.toRecords(T0))) as unknown[];
  assert.equal(records.length, 2, 'buckets older than a day are not saved');
  const back = RollingCounters.fromRecords([...records, ['x'], [1, 2, 3], null]);
  assert.deepEqual(back.sum(T0, DAY_MS), c.sum(T0, DAY_MS));
});

test('rates: bounces per sent, complaints per delivered, deferrals per attempt; 0 with nothing sent', () => {
  assert.deepEqual(ratesOf({ sent: 20, delivered: 18, hardBounces: 2, deferrals: 5, complaints: 1 }), {
    bounceRate: 0.1,
    complaintRate: 1 / 18,
    deferralRate: 0.2,
  });
  assert.deepEqual(ratesOf({ sent: 0, delivered: 0, hardBounces: 0, deferrals: 0, complaints: 0 }), { bounceRate: 0, complaintRate: 0, deferralRate: 0 });
});

test('the running 24 h totals agree with a plain sum over events, across idle gaps of hours and days', () => {
  const c = new RollingCounters();
  const events: Array<[number, number]> = [];
  let t = T0;
  let seed = 7;
  const random = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  for (let i = 0; i < 3000; i++) {
    // mostly seconds apart, sometimes an idle gap of hours or more than a day
    t += random() < 0.01 ? Math.floor(random() * 2 * DAY_MS) : Math.floor(random() * 120_000);
    const n = 1 + Math.floor(random() * 3);
    c.add('sent', t, n);
    events.push([t, n]);
    if (i % 97 === 0) {
      const windowStart = (Math.floor((t - DAY_MS) / MIN) + 1) * MIN;
      const expected = events.filter(([at]) => at >= windowStart).reduce((sum, [, k]) => sum + k, 0);
      assert.equal(c.sum(t, DAY_MS).sent, expected, `at event ${i}`);
      const hourStart = (Math.floor((t - 3_600_000) / MIN) + 1) * MIN;
      assert.equal(c.sum(t, 3_600_000).sent, events.filter(([at]) => at >= hourStart).reduce((sum, [, k]) => sum + k, 0));
    }
  }
});
