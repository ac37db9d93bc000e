import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir } from '../spool/fs-async.ts';

/**
 * An append-only file of JSON lines for the API's small durable stores (idempotency keys,
 * finished-message status). Appends are group-committed: every caller waits for the fsync
 * that covers its line, and appends arriving during one fsync share the next. `rewrite`
 * replaces the file with the live records (compaction) via a synced temporary file and a
 * rename, so a crash leaves either the old or the new file. A torn last line (a crash in
 * the middle of an append that nobody was answered for) is skipped on reading.
 */
export class JsonJournal<T> {
  private batch: Array<{ line: string; done: () => void; fail: (err: unknown) => void }> = [];
  private tail: Promise<void> = Promise.resolve();
  private flushQueued = false;
  /** Lines written since the last rewrite; the owner compacts when this outgrows its live set. */
  appended = 0;

  private constructor(
    private readonly path: string,
    private handle: FileHandle,
  ) {}

  /** Opens (creating) the journal and returns every readable record in file order. */
  static async open<T>(path: string): Promise<{ journal: JsonJournal<T>; records: unknown[] }> {
    await mkdir(dirname(path), { recursive: true });
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const records: unknown[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        records.push(JSON.parse(line));
      } catch {
        // a torn tail from a crash; its writer was never answered
      }
    }
    const handle = await open(path, 'a');
    await fsyncDir(dirname(path));
    return { journal: new JsonJournal<T>(path, handle), records };
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
      this.appended += batch.length;
      for (const b of batch) b.done();
    } catch (err) {
      for (const b of batch) b.fail(err);
    }
  }

  /** Replaces the file's content with `records`. */
  rewrite(records: readonly T[]): Promise<void> {
    return this.serial(async () => {
      const tmp = `${this.path}.tmp`;
      const out = await open(tmp, 'w');
      try {
        await out.write(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(tmp, this.path);
      await fsyncDir(dirname(this.path));
      await this.handle.close();
      this.handle = await open(this.path, 'a');
      this.appended = 0;
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
