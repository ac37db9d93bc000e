import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { DurableMap } from './durable-map.ts';

const isNumber = (v: unknown): v is number => typeof v === 'number';

test('entries survive a reopen; expired ones and a torn last line are dropped, and the file is compacted', async () => {
  const dir = await tempDir();
  const path = join(dir, 'api', 'map.jsonl');
  let now = 1_000_000;
  const opts = { retentionMs: 1000, maxEntries: 10, isValue: isNumber, now: () => now };
  const map = await DurableMap.open(path, opts);
  await map.set('a', 1);
  await map.set('b', 2);
  await map.set('a', 3);
  now += 600;
  await map.set('c', 4);
  await map.close();
  appendFileSync(path, '["d",1000600,');

  now += 500; // 'b' is 1100 ms old, 'a' too; 'c' 500 ms
  const reopened = await DurableMap.open(path, opts);
  assert.equal(reopened.get('a'), undefined);
  assert.equal(reopened.get('b'), undefined);
  assert.equal(reopened.get('c'), 4);
  assert.equal(reopened.get('d'), undefined);
  assert.equal(readFileSync(path, 'utf8'), '["c",1000600,4]\n', 'compacted to the live entries');
  await reopened.close();
});

test('holds at most maxEntries, forgetting the oldest first and saying so', async () => {
  const dir = await tempDir();
  let evicted = 0;
  const map = await DurableMap.open(join(dir, 'm.jsonl'), { retentionMs: 60_000, maxEntries: 3, isValue: isNumber, onEarlyEviction: () => evicted++ });
  for (let i = 0; i < 5; i++) await map.set(`k${i}`, i);
  assert.equal(map.size, 3);
  assert.equal(map.get('k0'), undefined);
  assert.equal(map.get('k4'), 4);
  assert.equal(evicted, 2);
  await map.close();
});

test('values that fail the check are not read back', async () => {
  const dir = await tempDir();
  const path = join(dir, 'm.jsonl');
  appendFileSync(path, `["x",${Date.now()},"not a number"]\n{"y":1}\n["z",${Date.now()},5]\n`);
  const map = await DurableMap.open(path, { retentionMs: 60_000, maxEntries: 10, isValue: isNumber });
  assert.equal(map.get('x'), undefined);
  assert.equal(map.get('z'), 5);
  await map.close();
});
