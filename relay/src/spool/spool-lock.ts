import { hostname } from 'node:os';
import { join } from 'node:path';
import { readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { RelayError } from '../errors.ts';

const HEARTBEAT_MS = 10_000;
const STALE_MS = 35_000;

interface LockOwner {
  pid: number;
  host: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per spool directory. Node has no flock(), so the lock is a file naming its
 * owner, kept fresh by a heartbeat: a lock from a dead process on this host, or one whose
 * heartbeat stopped (another pod that shared the volume and died), is taken over. In a
 * container the relay is often PID 1 on every start, so our own PID in the file is stale too.
 */
export class SpoolLock {
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly path: string) {}

  static async acquire(dir: string): Promise<SpoolLock> {
    const path = join(dir, 'lock');
    const me: LockOwner = { pid: process.pid, host: hostname() };
    const held = await readOwner(path);
    if (held && !(held.owner.host === me.host && held.owner.pid === me.pid)) {
      const fresh = Date.now() - held.mtimeMs < STALE_MS;
      const live = held.owner.host === me.host ? isAlive(held.owner.pid) : fresh;
      if (live) {
        throw new RelayError('ERELAY_SPOOL_LOCKED', `spool ${dir} is in use by pid ${held.owner.pid} on ${held.owner.host}`);
      }
    }
    await writeFile(path, JSON.stringify(me) + '\n');
    const lock = new SpoolLock(path);
    lock.timer = setInterval(() => {
      const now = new Date();
      utimes(path, now, now).catch(() => undefined);
    }, HEARTBEAT_MS);
    lock.timer.unref();
    return lock;
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    await rm(this.path, { force: true });
  }
}

async function readOwner(path: string): Promise<{ owner: LockOwner; mtimeMs: number } | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const owner = JSON.parse(text) as LockOwner;
    if (typeof owner.pid !== 'number' || typeof owner.host !== 'string') return undefined;
    return { owner, mtimeMs: info.mtimeMs };
  } catch {
    return undefined;
  }
}
