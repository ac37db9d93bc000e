import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle, decideAuthAttempt } from './auth-throttle.ts';

test('an address with failures gets one password check at a time; without failures a few', () => {
  assert.equal(decideAuthAttempt({ recentFailures: 0, inProgress: 3 }), 'check');
  assert.equal(decideAuthAttempt({ recentFailures: 0, inProgress: 4 }), 'throttled');
  assert.equal(decideAuthAttempt({ recentFailures: 1, inProgress: 0 }), 'check');
  assert.equal(decideAuthAttempt({ recentFailures: 1, inProgress: 1 }), 'throttled');
});

test('failure delays double per address up to 8 s and the window forgets them after 15 minutes', () => {
  const throttle = new AuthThrottle(250);
  const t0 = 1_000_000;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(() => throttle.fail('a', t0)), [250, 500, 1000, 2000, 4000, 8000, 8000]);
  assert.equal(throttle.fail('b', t0), 250, 'per address');
  assert.equal(throttle.penalty('a', t0), 8000, 'a refused attempt waits as long as the last failure');
  assert.equal(throttle.penalty('c', t0), 0);
  assert.equal(throttle.begin('a', t0), 'check');
  assert.equal(throttle.begin('a', t0), 'throttled', 'a second check while one runs');
  throttle.end('a');
  assert.equal(throttle.begin('a', t0), 'check');
  throttle.end('a');
  assert.equal(throttle.fail('a', t0 + 15 * 60_000 + 1), 250);
});
