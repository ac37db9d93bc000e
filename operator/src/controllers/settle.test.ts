import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Settle } from './settle.ts';

test('waits until inputs have been quiet, but never longer than the maximum after the burst began', () => {
  let now = 0;
  const settle = new Settle(2000, 10_000, () => now);
  assert.equal(settle.waitMs('ns/r'), 0, 'nothing changed: go ahead');
  settle.touch('ns/r');
  now = 500;
  assert.equal(settle.waitMs('ns/r'), 1500);
  for (now = 1000; now <= 9000; now += 1000) settle.touch('ns/r'); // a steady trickle
  now = 9500;
  assert.equal(settle.waitMs('ns/r'), 500, 'capped by the maximum wait');
  now = 10_000;
  assert.equal(settle.waitMs('ns/r'), 0);
  assert.equal(settle.waitMs('ns/r'), 0, 'the burst is forgotten once waited out');
  assert.equal(settle.waitMs('ns/other'), 0, 'per relay');
});
