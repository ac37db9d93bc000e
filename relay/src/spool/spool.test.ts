import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Spool, type CorruptKind } from './spool.ts';
import { newQueueId } from './queue-id.ts';
import { RecentBodies } from './recent-bodies.ts';
import { StringPool } from './string-pool.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { testLogger } from '../../../test/helpers/logger.ts';

const origin = { listener: 'test', clientAddress: '127.0.0.1' };

async function put(spool: Spool, body: string | Buffer, recipients = ['a@example.net'], now = Date.now()) {
  const incoming = spool.newMessage(newQueueId());
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  for (let i = 0; i < buf.length; i += 64 * 1024) await incoming.write(buf.subarray(i, i + 64 * 1024));
  return spool.commit(incoming, {
    from: 'sender@example.com',
    recipients: recipients.map((address) => ({ address, status: 'pending' as const })),
    createdAt: now,
    attempts: 0,
    nextAttemptAt: now,
    origin,
  });
}

async function open(dir: string, extra: Partial<Parameters<typeof Spool.open>[0]> = {}, corrupt: CorruptKind[] = []) {
  return Spool.open({ dir, logger: testLogger, ...extra }, (kind) => corrupt.push(kind));
}

test('a committed message survives a restart with its body and recipients', async () => {
  const dir = await tempDir();
  const spool = await open(dir);
  const entry = await put(spool, 'Subject: hi\r\n\r\nhello\r\n', ['a@x.test', 'b@y.test']);
  await spool.close();

  const again = await open(dir);
  const found = again.get(entry.meta.id);
  assert.ok(found, 'message recovered');
  assert.deepEqual(found.meta.recipients.map((r) => r.address), ['a@x.test', 'b@y.test']);
  assert.equal((await again.readBody(found)).toString(), 'Subject: hi\r\n\r\nhello\r\n');
  await again.close();
});

test('a second process cannot open a locked spool', async () => {
  const dir = await tempDir();
  const spool = await open(dir);
  // Same PID as ours counts as stale (PID 1 in containers), so simulate another live process.
  await writeFile(join(dir, 'lock'), JSON.stringify({ pid: process.ppid, host: (await import('node:os')).hostname() }));
  await assert.rejects(open(dir), /in use by pid/);
  await spool.close();
});

test('bodies above the inline limit stream to large/ and read back intact', async () => {
  const dir = await tempDir();
  const spool = await open(dir, { inlineLimit: 1024 });
  const body = Buffer.alloc(300_000, 'x');
  const entry = await put(spool, body);
  assert.ok('file' in entry.body);
  assert.deepEqual(await readdir(join(dir, 'large')), [`${entry.meta.id}.eml`]);
  await spool.close();
  const again = await open(dir, { inlineLimit: 1024 });
  assert.equal((await again.readBody(again.get(entry.meta.id)!)).length, 300_000);
  await again.update(entry.meta.id, { recipients: [{ address: 'a@example.net', status: 'delivered' }], attempts: 1, nextAttemptAt: 0 });
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await readdir(join(dir, 'large')), []);
  await again.close();
});

test('partial delivery keeps only pending recipients pending across a restart', async () => {
  const dir = await tempDir();
  const spool = await open(dir);
  const entry = await put(spool, 'x\r\n', ['a@x.test', 'b@x.test']);
  assert.deepEqual(spool.lease(10).map((e) => e.meta.id), [entry.meta.id]);
  assert.deepEqual(spool.lease(10), [], 'a leased message is not handed out twice');
  const later = Date.now() + 60_000;
  await spool.update(entry.meta.id, {
    recipients: [
      { address: 'a@x.test', status: 'delivered', lastReply: '250 ok' },
      { address: 'b@x.test', status: 'pending', lastReply: '451 4.3.0 later' },
    ],
    attempts: 1,
    nextAttemptAt: later,
  });
  assert.deepEqual(spool.lease(10), [], 'not due before nextAttemptAt');
  await spool.close();
  const again = await open(dir);
  const found = again.get(entry.meta.id)!;
  assert.equal(found.meta.attempts, 1);
  assert.equal(found.meta.nextAttemptAt, later);
  assert.deepEqual(found.meta.recipients.map((r) => r.status), ['delivered', 'pending']);
  assert.equal(again.lease(10, later).length, 1);
  await again.close();
});

test('finished messages are gone after restart and their segments are deleted', async () => {
  const dir = await tempDir();
  const spool = await open(dir, { maxSegmentSize: 4096 });
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) ids.push((await put(spool, 'y'.repeat(1000))).meta.id);
  for (const id of ids) await spool.update(id, { recipients: [{ address: 'a@example.net', status: 'delivered' }], attempts: 1, nextAttemptAt: 0 });
  await new Promise((r) => setTimeout(r, 50));
  const segments = await readdir(join(dir, 'segments'));
  assert.ok(segments.length <= 2, `old segments removed, left: ${segments.join(',')}`);
  await spool.close();
  const again = await open(dir);
  assert.equal(again.size, 0);
  await again.close();
});

test('a torn tail is moved to corrupt/ and counted; earlier messages survive', async () => {
  const dir = await tempDir();
  const spool = await open(dir);
  const entry = await put(spool, 'intact\r\n');
  await spool.close();
  const [segment] = await readdir(join(dir, 'segments'));
  const path = join(dir, 'segments', segment!);
  const before = (await stat(path)).size;
  await appendFile(path, Buffer.from([0x4d, 0x52, 0x53, 0x31, 1, 0, 0, 0, 0, 0, 9]));
  const corrupt: CorruptKind[] = [];
  const again = await open(dir, {}, corrupt);
  assert.ok(again.get(entry.meta.id));
  assert.deepEqual(corrupt, ['torn_tail']);
  assert.equal((await readdir(join(dir, 'corrupt'))).length, 1);
  assert.equal((await stat(path)).size, before, 'segment truncated back to the last good record');
  await again.close();
});

test('a rotten record in the middle is quarantined and the records after it are kept', async () => {
  const dir = await tempDir();
  const spool = await open(dir);
  const first = await put(spool, 'first\r\n');
  const second = await put(spool, 'second-body\r\n');
  const third = await put(spool, 'third\r\n');
  await spool.close();
  const [segment] = await readdir(join(dir, 'segments'));
  const path = join(dir, 'segments', segment!);
  const buf = await readFile(path);
  const at = buf.indexOf('second-body');
  buf[at] = 'X'.charCodeAt(0);
  await writeFile(path, buf);
  const corrupt: CorruptKind[] = [];
  const again = await open(dir, {}, corrupt);
  assert.ok(again.get(first.meta.id));
  assert.equal(again.get(second.meta.id), undefined);
  assert.ok(again.get(third.meta.id));
  assert.deepEqual(corrupt, ['record']);
  const saved = await readdir(join(dir, 'corrupt'));
  assert.equal(saved.length, 1);
  assert.match((await readFile(join(dir, 'corrupt', saved[0]!))).toString('latin1'), /Xecond-body/);
  await again.close();
});

test('concurrent commits share fsyncs (group commit)', async () => {
  const dir = await tempDir();
  const spool = await open(dir);
  await Promise.all(Array.from({ length: 200 }, () => put(spool, 'z'.repeat(4096))));
  const { batches, records } = spool.commitStats();
  assert.equal(records, 200);
  assert.ok(batches < records / 2, `expected batching, got ${batches} fsync batches for ${records} records`);
  await spool.close();
});

test('refuses new mail when free space is below minFreeSpace', async () => {
  const dir = await tempDir();
  const spool = await open(dir, { minFreeSpace: 2 ** 60 });
  assert.equal(spool.hasRoomFor(1000), false);
  await spool.close();
  const roomy = await open(dir, { minFreeSpace: 0 });
  assert.equal(roomy.hasRoomFor(1000), true);
  await roomy.close();
});

test('the first read of a new inline body comes from memory, later reads from the segment, with the same bytes', async () => {
  const dir = await tempDir();
  const spool = await open(dir);
  const body = 'Subject: fresh\r\n\r\n' + 'x'.repeat(5000) + '\r\n';
  const entry = await put(spool, body);
  const first = await spool.readBody(entry);
  // overwrite the record's bytes on disk: a read that still returns the original came from memory
  const segment = join(dir, 'segments', (await readdir(join(dir, 'segments')))[0]!);
  const onDisk = await readFile(segment);
  await writeFile(segment, Buffer.from(onDisk.toString('latin1').replace('x'.repeat(5000), 'y'.repeat(5000)), 'latin1'));
  assert.equal(first.toString(), body);
  assert.match((await spool.readBody(entry)).toString(), /y{5000}/, 'the second read goes to the segment');
  await spool.close();
});

test('recent bodies are handed out once, as copies, until the ring has moved past them', () => {
  const recent = new RecentBodies(10);
  recent.put('a', [Buffer.from('aa'), Buffer.from('aa')], 4);
  recent.put('b', [Buffer.from('bbbb')], 4);
  const b = recent.take('b');
  assert.equal(b?.toString(), 'bbbb');
  assert.equal(recent.take('b'), undefined, 'handed out once');
  // 'c' does not fit behind 'b': it starts the ring again, over 'a'
  recent.put('c', [Buffer.from('cccc')], 4);
  assert.equal(recent.take('a'), undefined, 'overwritten bodies are never handed out');
  recent.put('d', [Buffer.from('dddd')], 4);
  assert.equal(b.toString(), 'bbbb', 'a body handed out is a copy: d took its place in the ring');
  assert.equal(recent.take('c')?.toString(), 'cccc');
  assert.equal(recent.take('d')?.toString(), 'dddd');
  recent.put('huge', [Buffer.alloc(11)], 11);
  assert.equal(recent.take('huge'), undefined, 'larger than the ring: never kept');
  for (let i = 0; i < 100; i++) recent.put(`m${i}`, [Buffer.from('xyz')], 3);
  assert.ok(recent.count <= 4, `only the bodies still in the ring are indexed (${recent.count})`);
  assert.equal(recent.take('m99')?.toString(), 'xyz');
});

test('the string pool gives back exact copies, shares repeats and stays within its bound', () => {
  const pool = new StringPool(3);
  const header = 'From: Jürgen <j@example.de>\r\n\ud800 lone surrogate';
  for (const value of [header, header.slice(6, 13), 'a@b.example', '']) assert.equal(pool.get(value), value);
  assert.equal(pool.size, 1, 'full at three: the fourth value started the pool over');
  pool.get('x');
  pool.get('x');
  assert.equal(pool.size, 2, 'a repeated value takes one slot');
});
