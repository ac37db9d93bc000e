import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JsonJournal } from './json-journal.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

test('a torn last line is cut off on opening, so the next append starts a line of its own', async () => {
  const path = join(await tempDir(), 'journal.log');
  await writeFile(path, '{"n":1}\n{"n":2}\n{"n":');
  const { journal, records } = await JsonJournal.open<{ n: number }>(path);
  assert.deepEqual(records, [{ n: 1 }, { n: 2 }]);
  assert.equal(journal.lines, 2);
  await Promise.all([journal.append({ n: 3 }), journal.append({ n: 4 })]);
  await journal.close();
  assert.equal(await readFile(path, 'utf8'), '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n');
  const again = await JsonJournal.open<{ n: number }>(path);
  assert.deepEqual(again.records, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }], 'acknowledged appends are all readable');
  await again.journal.rewrite(() => [{ n: 4 }]);
  assert.equal(again.journal.lines, 1);
  await again.journal.append({ n: 5 });
  await again.journal.close();
  assert.equal(await readFile(path, 'utf8'), '{"n":4}\n{"n":5}\n', 'appends after a rewrite go to the new file');
});

test('an append acknowledged while a rewrite waits its turn is in the rewritten file', async () => {
  const path = join(await tempDir(), 'journal.log');
  const { journal } = await JsonJournal.open<{ n: number }>(path);
  const live = [{ n: 1 }];
  const first = journal.append({ n: 1 });
  await Promise.resolve();
  // queued behind the flush of n=1; n=2 joins that flush's successor or the flush itself
  const second = journal.append({ n: 2 });
  live.push({ n: 2 });
  const rewritten = journal.rewrite(() => live);
  const third = journal.append({ n: 3 });
  live.push({ n: 3 });
  await Promise.all([first, second, rewritten, third]);
  await journal.close();
  const again = await JsonJournal.open<{ n: number }>(path);
  assert.deepEqual(new Set(again.records.map((r) => (r as { n: number }).n)), new Set([1, 2, 3]), 'every acknowledged append survives the rewrite');
  await again.journal.close();
});
