import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideSaturated } from './metrics-server.ts';

test('a relay is saturated at its connection limit, or within 2% of a large one', () => {
  assert.equal(decideSaturated(1, 2), false);
  assert.equal(decideSaturated(2, 2), true);
  assert.equal(decideSaturated(979, 1000), false);
  assert.equal(decideSaturated(980, 1000), true);
  assert.equal(decideSaturated(1000, 1000), true);
});
