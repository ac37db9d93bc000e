import { mkdir, open, truncate, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readIfExists, writeDurable } from './durable-file.ts';
import { fsyncDir } from './fs-async.ts';

/**
 * An append-only file of JSON lines for the relay's small durable stores beside the spool
 * (idempotency keys, finished-message status, suppressions). Appends are group-committed:
 * every caller waits for the fsync that covers its line, and appends arriving during one
 * fsync share the next. `rewrite`
 * replaces the file with the live records (compaction) via a synced temporary file and a
 * rename, so a crash leaves either the old or the new file. A torn last line (a crash in
 * the middle of an append that nobody was answered for) is cut off on opening: the next append
 * would otherwise continue it, and both lines would be unreadable.
 */
export class JsonJournal<T> {
  private batch: Array<{ line: string; done: () => void; fail: (err: unknown) => void }> = [];
  private tail: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private constructor(
    private readonly path: string,
    private handle: FileHandle,
    /** Lines in the file; the owner compacts when this outgrows its live set. */
    public lines: number,
  ) {}

  /** Opens (creating) the journal and returns every readable record in file order. */
  static async open<T>(path: string): Promise<{ journal: JsonJournal<T>; records: unknown[] }> {
    await mkdir(dirname(path), { recursive: true });
    const bytes = (await readIfExists(path)) ?? Buffer.alloc(0);
    const end = bytes.lastIndexOf(0x0a) + 1;
    if (end < bytes.length) await truncate(path, end);
    const records: unknown[] = [];
    for (const line of bytes.subarray(0, end).toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        records.push(JSON.parse(line));
      } catch {
        // a line that is not JSON (written by hand?): skipped rather than fatal
      }
    }
    const handle = await open(path, 'a');
    await fsyncDir(dirname(path));
    return { journal: new JsonJournal<T>(path, handle, records.length), records };
  }

  /** Resolves once the record is on disk. */
  append(record: T): Promise<void> {
    return new Promise<void>((done, fail) => {
      this.batch.push({ line: `${JSON.stringify(record)}\n`, done, fail });
      if (this.flushQueued) return;
      this.flushQueued = true;
      this.serial(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.flushQueued = false;
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    try {
      await this.handle.write(batch.map((b) => b.line).join(''));
      await this.handle.datasync();
      this.lines += batch.length;
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.fail(err);
    }
  }

  /**
   * Replaces the file's content with `records()`, taken when the rewrite runs: an append
   * acknowledged between this call and then is in the old file, so it must be in the new one.
   */
  rewrite(records: () => readonly T[]): Promise<void> {
    return this.serial(async () => {
      const live = records();
      await writeDurable(this.path, live.map((r) => `${JSON.stringify(r)}\n`).join(''));
      // the old descriptor points at the replaced file
      await this.handle.close();
      this.handle = await open(this.path, 'a');
      this.lines = live.length;
    });
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.tail;
    await this.handle.close();
  }
}
