import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Whether a process with this id exists (EPERM: it does, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockAgeMs(dir: string): number {
  try {
    return Date.now() - statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Serialises builds across processes: node:test runs test files in parallel
 * processes, and two concurrent cold `go build`s would each take the whole machine.
 * A lock left by a dead process is taken over.
 */
/**
 * Takes a lock folder (waiting while a live process holds it) and returns its release. A lock
 * left by a dead process is taken over.
 */
export async function acquireDirLock(dir: string, timeoutMs = 45 * 60_000): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  const ownerFile = join(dir, 'pid');
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(ownerFile, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(ownerFile, 'utf8'));
    } catch {
      // The owner may be between mkdir and writing its pid.
    }
    const ownerless = Number.isNaN(owner) && lockAgeMs(dir) > 10_000;
    if (ownerless || (Number.isInteger(owner) && owner > 0 && !alive(owner))) {
      rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${dir} (held by pid ${owner})`);
    await sleep(1000);
  }
  return () => rmSync(dir, { recursive: true, force: true });
}

/**
 * Serialises builds across processes: node:test runs test files in parallel
 * processes, and two concurrent cold `go build`s would each take the whole machine.
 */
export async function withDirLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 45 * 60_000): Promise<T> {
  const release = await acquireDirLock(dir, timeoutMs);
  try {
    return await fn();
  } finally {
    release();
  }
}
