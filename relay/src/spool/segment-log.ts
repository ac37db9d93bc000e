import { join } from 'node:path';
import { unlink } from 'node:fs/promises';
import { openSync } from 'node:fs';
import { close, fdatasync, fsyncDir, ftruncate, open, readExactly, readExactlySync, writevAll } from './fs-async.ts';

export interface Location {
  readonly segment: number;
  /** Offset of the record's header in the segment. */
  readonly offset: number;
}

interface PendingAppend {
  readonly buffers: Buffer[];
  readonly syncDir: string | undefined;
  readonly resolve: (loc: Location) => void;
  readonly reject: (err: unknown) => void;
}

export function segmentFileName(segment: number): string {
  return `${segment.toString().padStart(10, '0')}.seg`;
}

export function parseSegmentFileName(name: string): number | undefined {
  const match = /^(\d{10})\.seg$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * The append side of the spool: records go to the current segment file, and one fdatasync
 * covers every record that arrived while the previous one ran (group commit), so the fsync
 * rate of the disk bounds batches, not messages. Each append resolves only once its bytes and
 * every directory entry it depends on are durable.
 */
export class SegmentLog {
  private fd = -1;
  private size = 0;
  private pending: PendingAppend[] = [];
  private flushing = false;
  private readonly readFds = new Map<number, number>();
  current = 0;
  /** Sizes of batches, for tests and the bench (how well group commit groups). */
  batches = 0;
  records = 0;

  constructor(
    private readonly dir: string,
    private readonly maxSegmentSize: number,
    private readonly onSegmentClosed: (segment: number) => void,
  ) {}

  path(segment: number): string {
    return join(this.dir, segmentFileName(segment));
  }

  async start(segment: number): Promise<void> {
    this.fd = await open(this.path(segment), 'wx');
    this.current = segment;
    this.size = 0;
    await fsyncDir(this.dir);
  }

  append(buffers: Buffer[], syncDir?: string): Promise<Location> {
    return new Promise((resolve, reject) => {
      this.pending.push({ buffers, syncDir, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const buffers: Buffer[] = [];
      const offsets: number[] = [];
      const dirs = new Set<string>();
      let position = this.size;
      for (const item of batch) {
        offsets.push(position);
        for (const b of item.buffers) {
          buffers.push(b);
          position += b.length;
        }
        if (item.syncDir) dirs.add(item.syncDir);
      }
      const segment = this.current;
      try {
        await writevAll(this.fd, buffers, this.size);
        await Promise.all([fdatasync(this.fd), ...[...dirs].map((d) => fsyncDir(d))]);
      } catch (err) {
        batch.forEach((item) => item.reject(err));
        await this.recoverFromWriteError();
        continue;
      }
      this.size = position;
      this.batches++;
      this.records += batch.length;
      batch.forEach((item, i) => item.resolve({ segment, offset: offsets[i]! }));
      if (this.size >= this.maxSegmentSize) await this.rotate().catch(() => undefined);
    }
    this.flushing = false;
  }

  /**
   * A failed write may have left a partial record; cut it off so the next batch starts at a
   * record boundary. After a failed fsync the page cache can no longer be trusted (the kernel
   * may have dropped the dirty pages), so continue in a fresh segment.
   */
  private async recoverFromWriteError(): Promise<void> {
    try {
      await ftruncate(this.fd, this.size);
    } catch {
      // the rotation below starts clean either way
    }
    await this.rotate().catch(() => undefined);
  }

  private async rotate(): Promise<void> {
    const old = this.current;
    const oldFd = this.fd;
    await this.start(old + 1);
    await close(oldFd).catch(() => undefined);
    this.onSegmentClosed(old);
  }

  /** Reads bytes of a record back (message bodies for delivery). */
  async read(segment: number, position: number, length: number): Promise<Buffer> {
    let fd = this.readFds.get(segment);
    if (fd === undefined) {
      fd = await open(this.path(segment), 'r');
      const raced = this.readFds.get(segment);
      if (raced !== undefined) {
        await close(fd);
        fd = raced;
      } else {
        this.readFds.set(segment, fd);
      }
    }
    return readExactly(fd, length, position);
  }

  /** `read` without waiting: for one record, when the caller cannot wait (Spool.get). */
  readSync(segment: number, position: number, length: number): Buffer {
    let fd = this.readFds.get(segment);
    if (fd === undefined) {
      fd = openSync(this.path(segment), 'r');
      this.readFds.set(segment, fd);
    }
    return readExactlySync(fd, length, position);
  }

  async remove(segment: number): Promise<void> {
    const fd = this.readFds.get(segment);
    this.readFds.delete(segment);
    if (fd !== undefined) await close(fd).catch(() => undefined);
    await unlink(this.path(segment));
  }

  async close(): Promise<void> {
    while (this.flushing || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    for (const fd of this.readFds.values()) await close(fd).catch(() => undefined);
    this.readFds.clear();
    if (this.fd >= 0) await close(this.fd);
    this.fd = -1;
  }
}
