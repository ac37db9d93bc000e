/**
 * The memory shape of the queue, at the spool: `node --expose-gc --import tsx
 * test/bench/queue-memory.ts [--count N] [--dir DIR] [--keep]`. Commits N messages of 4 KiB
 * for one destination, gives each a failed first attempt (as a dead destination does:
 * recipient pending, a 451 reply, the next attempt an hour away), then reports this process's
 * RSS and live heap, closes, and times a restart (Spool.open) over the same spool with the RSS
 * after it. One JSON line on stdout. --keep leaves the spool in DIR for test/bench/queue-rates.ts.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Spool } from '../../relay/src/spool/spool.ts';
import { newQueueId } from '../../relay/src/spool/queue-id.ts';
import { testLogger } from '../helpers/logger.ts';

const { values } = parseArgs({ options: { count: { type: 'string', default: '100000' }, dir: { type: 'string' }, keep: { type: 'boolean', default: false } } });
const count = Number(values.count);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function rssMiB(): number {
  const kib = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  return Math.round(kib / 1024);
}

function settle(): { rss: number; heap: number; heapTotal: number; external: number } {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return { rss: rssMiB(), heap: Math.round(m.heapUsed / 2 ** 20), heapTotal: Math.round(m.heapTotal / 2 ** 20), external: Math.round(m.external / 2 ** 20) };
}

const dir = values.dir ?? (await mkdtemp(join(tmpdir(), 'mail-relay-queue-memory-')));
const body = Buffer.from(`From: app@example.com\r\nTo: user@dead.example\r\nSubject: queued\r\n\r\n${'x'.repeat(4000)}\r\n`);
const start = settle();
let spool = await Spool.open({ dir, logger: testLogger });
const now = Date.now();
const later = now + 3_600_000;
const filled = Date.now();
const BATCH = 512;
/** What the delivery engine does with a dead destination: lease what is due, defer it an hour. */
async function deferDue(): Promise<void> {
  for (;;) {
    const leased = spool.lease(BATCH);
    if (leased.length === 0) {
      const next = spool.nextDueAt();
      if (next === undefined || next > Date.now()) return;
      await once(spool, 'due'); // being read back from the segments
      continue;
    }
    await Promise.all(
      leased.map(({ meta }) =>
        spool.update(meta.id, {
          recipients: meta.recipients.map((r) => ({ ...r, lastReply: '451 4.4.1 connect to 127.0.0.2: connection refused', updatedAt: now })),
          attempts: 1,
          nextAttemptAt: later,
        }),
      ),
    );
  }
}
for (let done = 0; done < count; done += BATCH) {
  await Promise.all(
    Array.from({ length: Math.min(BATCH, count - done) }, async (_, i) => {
      const incoming = spool.newMessage(newQueueId());
      await incoming.write(body);
      await spool.commit(incoming, {
        from: 'app@example.com',
        recipients: [{ address: `user${done + i}@dead.example`, status: 'pending' }],
        createdAt: now,
        attempts: 0,
        nextAttemptAt: now,
        sendingDomain: 'example.com',
        headerFromDomain: 'example.com',
        signingDomain: 'example.com',
        origin: { listener: 'submission', clientAddress: '10.1.2.3', user: 'app', helo: 'app.example.com' },
      });
    }),
  );
  await deferDue();
}
const fillSeconds = (Date.now() - filled) / 1000;
const queued = settle();
const size = spool.size;
await spool.close();
spool = undefined as unknown as Spool; // so that only the reopened spool is measured

const t0 = process.hrtime.bigint();
const again = await Spool.open({ dir, logger: testLogger });
const restartSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
const recovered = settle();
const recoveredSize = again.size;
await again.close();
if (!values.keep) await rm(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    count,
    queued: size,
    fillSeconds: Number(fillSeconds.toFixed(1)),
    baseRssMiB: start.rss,
    queuedRssMiB: queued.rss,
    queuedHeapMiB: queued.heap,
    queuedHeapTotalMiB: queued.heapTotal,
    queuedExternalMiB: queued.external,
    restartSeconds: Number(restartSeconds.toFixed(2)),
    recovered: recoveredSize,
    recoveredRssMiB: recovered.rss,
    recoveredHeapMiB: recovered.heap,
    recoveredHeapTotalMiB: recovered.heapTotal,
    recoveredExternalMiB: recovered.external,
    ...(values.keep ? { dir } : {}),
  }),
);
