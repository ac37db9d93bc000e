import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Spool } from './spool.ts';
import { newQueueId } from './queue-id.ts';
import type { MessageState, RecipientState, SpoolEntry } from './types.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { testLogger } from '../../../test/helpers/logger.ts';

/** Spools beyond their active limit: messages waiting for a retry are paged out to their records. */

const origin = { listener: 'test', clientAddress: '127.0.0.1' };
const HOUR = 3_600_000;

function open(dir: string, activeLimit: number, onCorrupt?: (kind: string) => void) {
  return Spool.open({ dir, logger: testLogger, activeLimit }, onCorrupt);
}

/** Commits `count` messages, `batch` at a time (so group commit keeps this quick). */
async function fill(spool: Spool, count: number, recipients: (i: number) => string[], now: number, batch = 256): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < count; done += batch) {
    const entries = await Promise.all(
      Array.from({ length: Math.min(batch, count - done) }, async (_, k) => {
        const i = done + k;
        const incoming = spool.newMessage(newQueueId());
        await incoming.write(Buffer.from(`Subject: m${i}\r\n\r\nbody ${i}\r\n`));
        return spool.commit(incoming, {
          from: `sender${i % 7}@example.com`,
          recipients: recipients(i).map((address) => ({ address, status: 'pending' as const })),
          createdAt: now,
          attempts: 0,
          nextAttemptAt: now,
          sendingDomain: i % 2 === 0 ? 'even.example' : 'odd.example',
          origin,
        });
      }),
    );
    ids.push(...entries.map((e) => e.meta.id));
  }
  return ids;
}

/** Leases everything due at `now` the way the delivery engine does: waits for `due` while records are read back. */
async function leaseAll(spool: Spool, now: number, max = Infinity): Promise<SpoolEntry[]> {
  const out: SpoolEntry[] = [];
  while (out.length < max) {
    const batch = spool.lease(Math.min(100, max - out.length), now);
    if (batch.length > 0) {
      out.push(...batch);
      continue;
    }
    const next = spool.nextDueAt();
    if (next === undefined || next > now) break;
    await once(spool, 'due');
  }
  return out;
}

/** What a failed attempt writes: the first recipient delivered, the others pending, each with its reply. */
function attemptState(entry: SpoolEntry, nextAttemptAt: number): MessageState {
  const recipients: RecipientState[] = entry.meta.recipients.map((r, i) =>
    i === 0
      ? { address: r.address, status: 'delivered', lastReply: '250 2.0.0 ok', updatedAt: 1000 + i }
      : { address: r.address, status: 'pending', lastReply: `451 4.4.1 try ${entry.meta.id} later`, updatedAt: 2000 + i },
  );
  return { recipients, attempts: entry.meta.attempts + 1, nextAttemptAt };
}

test('a large spool beyond the active limit: recovered whole, paged in when due, retry times and recipient state intact', { timeout: 300_000 }, async () => {
  const dir = await tempDir();
  const now = Date.now();
  const count = 50_000;
  const spool = await open(dir, 500);
  await fill(spool, count, (i) => [`first${i}@a.example`, `second${i}@b.example`], now);
  // distinct retry times in an order unrelated to arrival: i * 7919 mod count is a permutation
  const retryAt = new Map<string, number>();
  const deferred = await leaseAll(spool, now);
  assert.equal(deferred.length, count, 'every message was leased once, the paged-out ones read back');
  for (let i = 0; i < deferred.length; i += 512) {
    await Promise.all(
      deferred.slice(i, i + 512).map((entry, k) => {
        const at = now + HOUR + ((i + k) * 7919) % count;
        retryAt.set(entry.meta.id, at);
        return spool.update(entry.meta.id, attemptState(entry, at));
      }),
    );
  }
  assert.ok(spool.memoryStats().resident <= 500, `resident ${spool.memoryStats().resident} within the active limit`);
  await spool.close();

  const again = await open(dir, 500);
  assert.equal(again.size, count);
  assert.ok(again.memoryStats().resident <= 500, `after recovery, resident ${again.memoryStats().resident}`);
  assert.deepEqual(again.stats(now), { ready: 0, deferred: count, held: 0, oldestCreatedAt: now });
  assert.deepEqual(await leaseAll(again, now), [], 'nothing is due before its retry time');
  const leased = await leaseAll(again, now + 2 * HOUR);
  assert.equal(leased.length, count);
  let previous = -Infinity;
  for (const entry of leased) {
    const m = entry.meta;
    assert.equal(m.nextAttemptAt, retryAt.get(m.id), `retry time of ${m.id}`);
    assert.ok(m.nextAttemptAt > previous, 'leased in retry-time order');
    previous = m.nextAttemptAt;
    assert.equal(m.attempts, 1);
    assert.equal(m.recipients.length, 2);
    assert.deepEqual(m.recipients[0], { address: m.recipients[0]!.address, status: 'delivered', lastReply: '250 2.0.0 ok', updatedAt: 1000 });
    assert.deepEqual(m.recipients[1], { address: m.recipients[1]!.address, status: 'pending', lastReply: `451 4.4.1 try ${m.id} later`, updatedAt: 2001 });
  }
  const sample = leased[count >> 1]!;
  const n = /^first(\d+)@/.exec(sample.meta.recipients[0]!.address)![1];
  assert.equal((await again.readBody(sample)).toString(), `Subject: m${n}\r\n\r\nbody ${n}\r\n`, 'the body is the one committed with it');
  await again.close();
});

test('paged-out messages keep their order, state and body through get, claim, admin state, hold and release', async () => {
  const dir = await tempDir();
  const now = Date.now();
  const spool = await open(dir, 10);
  const ids = await fill(spool, 100, (i) => [`r${i}@x.example`, `s${i}@y.example`], now, 20);
  for (const entry of await leaseAll(spool, now)) {
    const i = ids.indexOf(entry.meta.id);
    // reverse arrival order
    await spool.update(entry.meta.id, attemptState(entry, now + HOUR + (100 - i) * 1000));
  }
  assert.ok(spool.memoryStats().resident <= 10);

  const paged = ids[42]!;
  const got = spool.get(paged)!;
  assert.equal(got.meta.nextAttemptAt, now + HOUR + 58_000);
  assert.deepEqual(got.meta.recipients.map((r) => r.status), ['delivered', 'pending']);
  assert.equal(got.leased, false);
  assert.equal((await spool.readBody(got)).toString(), 'Subject: m42\r\n\r\nbody 42\r\n');

  // an admin retry of one paged-out message makes it due now, ahead of the others
  const claimed = spool.claim(paged);
  assert.ok(claimed && claimed !== 'leased');
  assert.equal(spool.claim(paged), 'leased', 'claimed means leased');
  await spool.writeAdminState(claimed, { adminHold: false, nextAttemptAt: now });
  assert.deepEqual((await leaseAll(spool, now)).map((e) => e.meta.id), [paged]);
  await spool.update(paged, attemptState(spool.get(paged)!, now + HOUR + 58_000));

  // paused-domain holds are in memory only and released by sending domain
  const due = await leaseAll(spool, now + 2 * HOUR, 30);
  assert.deepEqual(
    due.map((e) => e.meta.id),
    [...ids].reverse().slice(0, 30),
    'the latest arrivals were given the earliest retry times',
  );
  for (const entry of due) spool.hold(entry.meta.id);
  assert.equal(spool.stats(now).held, 30);
  assert.equal(spool.get(due[0]!.meta.id)!.meta.held, true);
  const odd = due.filter((e) => e.meta.sendingDomain === 'odd.example').length;
  assert.equal(spool.releaseHeld((domain) => domain === 'odd.example'), odd);
  assert.equal(spool.stats(now).held, 30 - odd);
  const rest = await leaseAll(spool, now + 2 * HOUR);
  assert.equal(rest.length, 100 - 30 + odd);
  assert.ok(rest.every((e) => !e.meta.held && e.meta.attempts === (e.meta.id === paged ? 2 : 1)));
  await spool.close();
});

test('page() lists paged-out messages in id order with bounded reads, and skips those that left', async () => {
  const dir = await tempDir();
  const now = Date.now();
  const spool = await open(dir, 5);
  const ids = await fill(spool, 60, (i) => [`r${i}@x.example`, `s${i}@y.example`], now, 10);
  for (const entry of await leaseAll(spool, now)) await spool.update(entry.meta.id, attemptState(entry, now + HOUR));
  const sorted = [...ids].sort();
  const first = await spool.page(() => true, 25);
  assert.deepEqual(first.entries.map((e) => e.meta.id), sorted.slice(0, 25));
  assert.equal(first.more, true);
  const odd = await spool.page((e) => e.meta.sendingDomain === 'odd.example', 100, sorted[9]);
  assert.deepEqual(
    odd.entries.map((e) => e.meta.id),
    sorted.slice(10).filter((id) => ids.indexOf(id) % 2 === 1),
  );
  assert.equal(odd.more, false);
  const gone = sorted[0]!;
  const claimed = spool.claim(gone);
  assert.ok(claimed && claimed !== 'leased');
  await spool.removeClaimed(claimed);
  assert.equal(spool.get(gone), undefined);
  assert.equal((await spool.page(() => true, 1)).entries[0]!.meta.id, sorted[1]);
  assert.ok(spool.memoryStats().resident <= 5, 'listing kept nothing it read');
  await spool.close();
});

test('a rotten STATE record of a paged-out message is moved aside on restart and its previous state kept', async () => {
  const dir = await tempDir();
  const now = Date.now();
  const spool = await open(dir, 2);
  const ids = await fill(spool, 10, (i) => [`r${i}@x.example`, `s${i}@x.example`], now, 10);
  const leased = await leaseAll(spool, now);
  for (const entry of leased) await spool.update(entry.meta.id, attemptState(entry, now + HOUR));
  const victim = ids[3]!;
  const second = spool.claim(victim);
  assert.ok(second && second !== 'leased');
  await spool.writeAdminState(second, { adminHold: true });
  // a record after it, so that the rot is in the middle of the segment, not a torn tail
  const other = spool.claim(ids[5]!);
  assert.ok(other && other !== 'leased');
  await spool.writeAdminState(other, { adminHold: false, nextAttemptAt: now + 2 * HOUR });
  await spool.close();
  // rot the admin-hold STATE record (the newest of the victim)
  const [segment] = await readdir(join(dir, 'segments'));
  const path = join(dir, 'segments', segment!);
  const buf = await readFile(path);
  const at = buf.lastIndexOf(`"adminHold":true`);
  assert.ok(at > 0);
  buf[at + 1] = 'X'.charCodeAt(0);
  await writeFile(path, buf);
  const corrupt: string[] = [];
  const again = await open(dir, 2, (kind) => corrupt.push(kind));
  assert.deepEqual(corrupt, ['record']);
  const m = again.get(victim)!.meta;
  assert.equal(m.adminHold, false, 'the record before it decides');
  assert.equal(m.attempts, 1);
  assert.deepEqual(m.recipients.map((r) => r.status), ['delivered', 'pending']);
  assert.equal(again.size, 10);
  await again.close();
});
