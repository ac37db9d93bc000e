import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyBudget } from './body-budget.ts';

test('bodies beyond the budget wait, in arrival order, until earlier ones are released', async () => {
  const budget = new BodyBudget(100);
  const started: string[] = [];
  const take = (name: string, bytes: number) => budget.acquire(bytes).then((release) => (started.push(name), release));
  const a = await take('a', 60);
  const b = take('b', 60);
  const c = take('c', 10);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, ['a'], 'b does not fit; c waits behind b');
  a();
  a();
  const [releaseB] = await Promise.all([b, c]);
  assert.deepEqual(started, ['a', 'b', 'c'], 'a second release of a changes nothing');
  const d = take('d', 1000);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, ['a', 'b', 'c'], 'a body larger than the budget costs the whole budget');
  releaseB();
  (await c)();
  await d;
  assert.deepEqual(started, ['a', 'b', 'c', 'd']);
});
