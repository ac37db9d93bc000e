import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePortMap } from '../control-plane/saved-ports.ts';
import { buildOperatorArgs, parseSavedForwardPorts } from './local-stack.ts';

describe("what a kept local stack reads back and rewrites on its next start", () => {
  it('adds the local-speed flags to the chart\'s operator args', () => {
    assert.deepEqual(buildOperatorArgs(['--metrics-port', '8080']), ['--metrics-port', '8080', '--dns-check-interval', '5s', '--reputation-interval', '2s']);
  });

  it('replaces the flags a previous start added instead of appending them again', () => {
    const once = buildOperatorArgs(['--metrics-port', '8080']);
    assert.deepEqual(buildOperatorArgs(once), once);
    assert.deepEqual(buildOperatorArgs(['--dns-check-interval=1m', '--leader-elect']), ['--leader-elect', '--dns-check-interval', '5s', '--reputation-interval', '2s']);
  });

  it("reads the last run's forwarded ports from endpoints.json", () => {
    const saved = parseSavedForwardPorts({ smtp: {}, ports: { relay: { smtp: 40001, http: 40002 }, operator: { metrics: 40003 } } });
    assert.deepEqual([...saved.relay], [['smtp', 40001], ['http', 40002]]);
    assert.deepEqual([...saved.operator], [['metrics', 40003]]);
  });

  it('leaves out anything that is not a port, so a free one is picked instead', () => {
    assert.deepEqual([...parsePortMap({ a: 0, b: 65536, c: '25', d: 1.5, e: -1, f: 2525 })], [['f', 2525]]);
    assert.deepEqual([...parsePortMap([1, 2])], []);
    assert.deepEqual([...parseSavedForwardPorts(undefined).relay], []);
    assert.deepEqual([...parseSavedForwardPorts({ ports: { relay: 'x' } }).relay], []);
  });
});
