import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideRetry, type RequestResult } from './decide-retry.ts';

const at = (result: RequestResult, failures = 1, now = 1000, random = 0.5) =>
  decideRetry({ result, failures, firstFailureAt: 1000, now, retryFor: 86_400_000, maxDelay: 600_000, random });

test('2xx is delivered; 5xx, 408, 429, timeouts and connection errors are retried; other 4xx and 3xx are dropped', () => {
  assert.deepEqual(at({ status: 200 }), { kind: 'delivered' });
  assert.deepEqual(at({ status: 204 }), { kind: 'delivered' });
  for (const status of [500, 502, 503, 408, 429]) assert.equal(at({ status }).kind, 'retry', String(status));
  for (const error of ['timeout', 'ECONNREFUSED', 'ECONNRESET']) assert.equal(at({ error }).kind, 'retry', error);
  for (const status of [400, 401, 403, 404, 410, 422, 301, 302, 307]) assert.equal(at({ status }).kind, 'rejected', String(status));
});

test('backoff grows exponentially with jitter, capped at maxDelay', () => {
  const delay = (failures: number, random: number) => {
    const d = at({ status: 503 }, failures, 1000, random);
    assert.equal(d.kind, 'retry');
    return (d as { delay: number }).delay;
  };
  assert.equal(delay(1, 0), 500);
  assert.equal(delay(1, 0.999), 1000);
  assert.equal(delay(2, 0), 1000);
  assert.equal(delay(5, 0), 8000);
  assert.ok(delay(3, 0.3) > delay(3, 0.1), 'jitter spreads retries');
  assert.ok(delay(40, 0.999) <= 600_000 && delay(40, 0.999) > 599_000, 'the cap');
  assert.equal(delay(40, 0), 300_000);
});

test('retries continue until retryFor has passed since the first failure, the last one at its end', () => {
  const retryFor = 86_400_000;
  const near = decideRetry({ result: { status: 503 }, failures: 50, firstFailureAt: 0, now: retryFor - 10, retryFor, maxDelay: 600_000, random: 0.5 });
  assert.deepEqual(near, { kind: 'retry', delay: 10 });
  assert.deepEqual(decideRetry({ result: { status: 503 }, failures: 51, firstFailureAt: 0, now: retryFor, retryFor, maxDelay: 600_000, random: 0.5 }), { kind: 'expired' });
  assert.deepEqual(decideRetry({ result: { status: 400 }, failures: 51, firstFailureAt: 0, now: retryFor, retryFor, maxDelay: 600_000, random: 0.5 }), { kind: 'rejected' });
});
