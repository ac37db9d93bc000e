import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { buildDeliveredEvent } from './build-events.ts';
import { EventJournal, type JournalRecord } from './event-journal.ts';

const event = (n: number) => ({ event: buildDeliveredEvent({ queueId: `Q${n}`, domain: 'example.com' }, { recipient: `r${n}@x.test`, attempt: 1, reply: '250 ok', time: n }) });

async function all(journal: EventJournal): Promise<JournalRecord[]> {
  const out: JournalRecord[] = [];
  for await (const { record } of journal.scan(journal.start)) out.push(record);
  return out;
}

test('appends are group-committed, read back in order, and numbered on across restarts', async () => {
  const dir = await tempDir();
  const journal = await EventJournal.open(dir, { maxBytes: 2 ** 20 });
  await Promise.all([journal.append([event(1), event(2)]), journal.append([event(3)])]);
  assert.deepEqual((await all(journal)).map((r) => [r.seq, r.event.queueId]), [[1, 'Q1'], [2, 'Q2'], [3, 'Q3']]);
  await journal.close();
  const again = await EventJournal.open(dir, { maxBytes: 2 ** 20 });
  await again.append([event(4)]);
  assert.deepEqual((await all(again)).map((r) => r.seq), [1, 2, 3, 4]);
  await again.close();
});

test('a torn line at the end of a segment (a crash mid-append) is skipped, and what follows in new segments is read', async () => {
  const dir = await tempDir();
  const journal = await EventJournal.open(dir, { maxBytes: 2 ** 20 });
  await journal.append([event(1), event(2)]);
  await journal.close();
  const [segment] = await readdir(dir);
  const full = await readFile(join(dir, segment!), 'utf8');
  // the start of a third line, as a SIGKILL during its write leaves it
  await appendFile(join(dir, segment!), full.split('\n')[0]!.slice(0, 40));
  // and rot in the middle: a line that is not JSON
  const again = await EventJournal.open(dir, { maxBytes: 2 ** 20 });
  await again.append([event(3)]);
  assert.deepEqual((await all(again)).map((r) => r.event.queueId), ['Q1', 'Q2', 'Q3']);
  await again.close();
});

test('lines that are not records are skipped, the rest kept', async () => {
  const dir = await tempDir();
  const journal = await EventJournal.open(dir, { maxBytes: 2 ** 20 });
  await journal.close();
  const [segment] = await readdir(dir);
  await appendFile(join(dir, segment!), `not json\n{"seq":"x"}\n${JSON.stringify({ seq: 7, ...event(7) })}\n`);
  const again = await EventJournal.open(dir, { maxBytes: 2 ** 20 });
  assert.deepEqual((await all(again)).map((r) => r.seq), [7]);
  await again.append([event(8)]);
  assert.deepEqual((await all(again)).map((r) => r.seq), [7, 8], 'numbering continues after the highest');
  await again.close();
});

test('segments rotate; passed segments are deleted; over maxBytes the oldest goes, readers told first', async () => {
  const dir = await tempDir();
  const journal = await EventJournal.open(dir, { maxBytes: 8 * 1024, segmentSize: 2048 });
  const told: number[] = [];
  journal.onOverflow = async (segment) => {
    told.push(segment);
  };
  let reader = journal.start;
  journal.readerPositions = () => [reader];
  for (let i = 0; i < 60; i++) await journal.append([event(i)]);
  assert.ok(told.length > 0, 'the bound was reached');
  assert.ok(journal.bytes <= 8 * 1024 + 2048, `bytes ${journal.bytes}`);
  const left = await all(journal);
  assert.equal(left.at(-1)!.seq, 60, 'the newest are kept');
  assert.ok(left[0]!.seq > 1, 'the oldest were dropped');
  // a reader at the end lets every older segment go
  reader = journal.end;
  await journal.trim();
  assert.equal((await readdir(dir)).filter((f) => f.endsWith('.events')).length, 1);
  await journal.close();
});
