import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReportRateLimit } from './report-rate-limit.ts';

test('a key gets its burst at once, then perMinute a minute, apart from other keys', () => {
  let now = 0;
  const limit = new ReportRateLimit({ perMinute: 6, burst: 3, maxKeys: 10 }, () => now);
  assert.deepEqual([1, 2, 3, 4].map(() => limit.take('192.0.2.1')), [true, true, true, false]);
  assert.equal(limit.take('192.0.2.2'), true, 'another key has its own bucket');
  now += 9_999;
  assert.equal(limit.take('192.0.2.1'), false, 'not yet one token back (one per 10 s)');
  now += 1;
  assert.equal(limit.take('192.0.2.1'), true);
  assert.equal(limit.take('192.0.2.1'), false);
  now += 3_600_000;
  assert.deepEqual([1, 2, 3, 4].map(() => limit.take('192.0.2.1')), [true, true, true, false], 'tokens refill up to the burst only');
});

test('at most maxKeys buckets are kept, the least recently used forgotten first', () => {
  const limit = new ReportRateLimit({ perMinute: 1, burst: 1, maxKeys: 2 }, () => 0);
  assert.equal(limit.take('a'), true);
  assert.equal(limit.take('b'), true);
  assert.equal(limit.take('a'), false, 'a is used up and now the most recent');
  assert.equal(limit.take('c'), true, 'c evicts b');
  assert.equal(limit.take('a'), false, 'a was kept');
  assert.equal(limit.take('b'), true, 'b was forgotten, so it starts afresh');
});
