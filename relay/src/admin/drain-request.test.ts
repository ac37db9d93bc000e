import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDrainRequest } from './drain-request.ts';

test('a drain request names its targets as host:port, with an optional token, and a quiet period', () => {
  assert.deepEqual(parseDrainRequest({ targets: [{ address: '10.0.0.2:8026' }, { address: '[fd00::3]:8026', token: 't'.repeat(16) }], quiesceSeconds: 10 }).request, {
    targets: [
      { host: '10.0.0.2', port: 8026 },
      { host: 'fd00::3', port: 8026, token: 't'.repeat(16) },
    ],
    quiesceMs: 10_000,
  });
  assert.equal(parseDrainRequest({ targets: [{ address: 'relay-1.relay.ns.svc:8026' }] }).request?.quiesceMs, 0);
});

test('every problem of a drain request is listed', () => {
  assert.deepEqual(parseDrainRequest([]).problems, [{ field: '', message: 'must be a JSON object' }]);
  assert.deepEqual(
    parseDrainRequest({ targets: [{ address: 'nope' }, { address: '1.2.3.4:0' }, { address: 'a:1', token: 'short' }], quiesceSeconds: 1.5, extra: 1 }).problems.map((p) => p.field),
    ['extra', 'targets[0].address', 'targets[1].address', 'targets[2].token', 'quiesceSeconds'],
  );
  assert.deepEqual(parseDrainRequest({ targets: [] }).problems.map((p) => p.field), ['targets']);
});
