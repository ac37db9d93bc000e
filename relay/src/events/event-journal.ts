import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RelayError } from '../errors.ts';
import { close, fdatasync, fsyncDir, open, read, writevAll } from '../spool/fs-async.ts';
import type { DeferralPhase, RelayEvent } from './event-types.ts';

/** One line of the journal: a sequence number, the event, and its deferral phase. */
export interface JournalRecord {
  readonly seq: number;
  readonly event: RelayEvent;
  readonly phase?: DeferralPhase;
}

/** A place in the journal: the next byte to read. */
export interface JournalPosition {
  readonly segment: number;
  readonly offset: number;
}

interface Segment {
  readonly n: number;
  /** Bytes known durable (readers never go past them). */
  size: number;
}

interface Pending {
  readonly lines: Buffer;
  readonly records: JournalRecord[];
  readonly done: () => void;
  readonly fail: (err: unknown) => void;
}

const SEGMENT_NAME = /^(\d{10})\.events$/;
/** A line longer than this is not one the relay wrote: skipped as corrupt. */
const MAX_LINE = 1024 * 1024;
const READ_CHUNK = 64 * 1024;

function segmentName(n: number): string {
  return `${n.toString().padStart(10, '0')}.events`;
}

/**
 * The durable event journal: JSON lines in numbered segment files under `<queue.dir>/events/`,
 * appended with group commit (one fdatasync for every event that arrived during the previous
 * one, so events cost the spool's acceptance little). `append` resolves once the lines are on
 * disk. Each webhook reads it from its own position (WebhookDispatcher); a segment every reader
 * has passed is deleted, and beyond `maxBytes` the oldest segment is deleted anyway (readers
 * still in it are told first, to count what they lose). A start always opens a new segment, so
 * a torn line a crash left at the end of the last one stays behind, where readers skip it.
 */
export class EventJournal {
  private readonly segments: Segment[] = [];
  private fd = -1;
  private nextSeq: number;
  private pending: Pending[] = [];
  private flushing = false;
  private closed = false;
  private readonly listeners = new Set<(records: readonly JournalRecord[]) => void>();
  /** Called before a segment is deleted over the size bound; resolves once the readers in it have counted their loss. */
  onOverflow: (segment: number) => Promise<void> = async () => undefined;
  /** Where every reader is (to delete segments they all passed); until set, everything is kept. */
  readerPositions: () => readonly JournalPosition[] = () => [this.start];

  private constructor(
    private readonly dir: string,
    private readonly segmentSize: number,
    private readonly maxBytes: number,
    lastSeq: number,
  ) {
    this.nextSeq = lastSeq + 1;
  }

  static async open(dir: string, options: { maxBytes: number; segmentSize?: number }): Promise<EventJournal> {
    await mkdir(dir, { recursive: true });
    const numbers = (await readdir(dir))
      .map((name) => SEGMENT_NAME.exec(name))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    const segmentSize = options.segmentSize ?? Math.max(16 * 1024, Math.min(4 * 2 ** 20, Math.floor(options.maxBytes / 8)));
    const sizes = await Promise.all(numbers.map(async (n) => (await stat(join(dir, segmentName(n)))).size));
    let lastSeq = 0;
    const journal = new EventJournal(dir, segmentSize, options.maxBytes, 0);
    numbers.forEach((n, i) => journal.segments.push({ n, size: sizes[i]! }));
    for (let i = numbers.length - 1; i >= 0 && lastSeq === 0; i--) {
      for await (const { record } of journal.scan({ segment: numbers[i]!, offset: 0 })) lastSeq = Math.max(lastSeq, record.seq);
    }
    journal.nextSeq = lastSeq + 1;
    await journal.startSegment((numbers.at(-1) ?? 0) + 1);
    return journal;
  }

  private async startSegment(n: number): Promise<void> {
    this.fd = await open(join(this.dir, segmentName(n)), 'wx');
    await fsyncDir(this.dir);
    this.segments.push({ n, size: 0 });
  }

  private get current(): Segment {
    return this.segments.at(-1)!;
  }

  /** The position just after everything written so far: where a new reader starts. */
  get end(): JournalPosition {
    return { segment: this.current.n, offset: this.current.size };
  }

  /** The first position still on disk. */
  get start(): JournalPosition {
    return { segment: this.segments[0]!.n, offset: 0 };
  }

  /** Bytes on disk, every segment. */
  get bytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  onAppend(listener: (records: readonly JournalRecord[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes the events; resolves once they are durable. */
  append(items: ReadonlyArray<{ event: RelayEvent; phase?: DeferralPhase }>): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new RelayError('ERELAY_EVENTS_IO', 'event journal is closed'));
    const records = items.map((item) => ({ seq: this.nextSeq++, event: item.event, ...(item.phase ? { phase: item.phase } : {}) }));
    const lines = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    return new Promise<void>((done, fail) => {
      this.pending.push({ lines, records, done, fail });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const segment = this.current;
      try {
        await writevAll(this.fd, batch.map((p) => p.lines), segment.size);
        await fdatasync(this.fd);
      } catch (err) {
        batch.forEach((p) => p.fail(new RelayError('ERELAY_EVENTS_IO', `event journal write failed: ${(err as Error).message}`, { cause: err })));
        // whatever part of the batch reached the file is past `size`: readers never see it, and the next segment starts clean
        await this.rotate().catch(() => undefined);
        continue;
      }
      for (const p of batch) segment.size += p.lines.length;
      const records = batch.flatMap((p) => p.records);
      batch.forEach((p) => p.done());
      for (const listener of this.listeners) listener(records);
      if (segment.size >= this.segmentSize) await this.rotate().catch(() => undefined);
      await this.trim().catch(() => undefined);
    }
    this.flushing = false;
  }

  private async rotate(): Promise<void> {
    const old = this.fd;
    await this.startSegment(this.current.n + 1);
    await close(old).catch(() => undefined);
  }

  /** Deletes segments every reader has passed, then the oldest ones while over the size bound. */
  async trim(): Promise<void> {
    const positions = this.readerPositions();
    const lowest = positions.reduce((min, p) => Math.min(min, p.segment), this.current.n);
    while (this.segments.length > 1 && this.segments[0]!.n < lowest) await this.removeOldest();
    while (this.segments.length > 1 && this.bytes > this.maxBytes) {
      await this.onOverflow(this.segments[0]!.n);
      await this.removeOldest();
    }
  }

  private async removeOldest(): Promise<void> {
    const segment = this.segments.shift()!;
    await unlink(join(this.dir, segmentName(segment.n))).catch(() => undefined);
  }

  /**
   * The records from `from` on, in order, each with the position after it, reading at most
   * one chunk of a segment at a time (memory stays bounded whatever the backlog). Torn and
   * unreadable lines are skipped; a deleted segment is skipped as a whole.
   */
  async *scan(from: JournalPosition): AsyncGenerator<{ record: JournalRecord; next: JournalPosition }> {
    let { segment, offset } = from;
    for (;;) {
      const info = this.segments.find((s) => s.n >= segment);
      if (!info) return;
      if (info.n !== segment) {
        segment = info.n;
        offset = 0;
      }
      let fd: number;
      try {
        fd = await open(join(this.dir, segmentName(segment)), 'r');
      } catch {
        segment++;
        offset = 0;
        continue;
      }
      try {
        let chunk = Buffer.allocUnsafe(READ_CHUNK);
        while (offset < info.size) {
          const want = Math.min(chunk.length, info.size - offset);
          const n = await read(fd, chunk, 0, want, offset);
          if (n === 0) break;
          const view = chunk.subarray(0, n);
          const lastNewline = view.lastIndexOf(0x0a);
          if (lastNewline === -1) {
            if (chunk.length < MAX_LINE && n === chunk.length) {
              chunk = Buffer.allocUnsafe(chunk.length * 2);
              continue;
            }
            // no end of line within reach: a torn tail, or a line no writer of ours produced
            offset = info.size;
            break;
          }
          let start = 0;
          while (start <= lastNewline) {
            const end = view.indexOf(0x0a, start);
            const line = view.subarray(start, end);
            start = end + 1;
            const record = parseRecord(line);
            if (record) yield { record, next: { segment, offset: offset + start } };
          }
          offset += lastNewline + 1;
        }
      } finally {
        await close(fd).catch(() => undefined);
      }
      if (segment >= this.current.n) return;
      segment++;
      offset = 0;
    }
  }

  /** Stops taking events once those in flight are written. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setTimeout(r, 5));
    if (this.fd >= 0) await close(this.fd).catch(() => undefined);
    this.fd = -1;
  }
}

/** A journal line back to a record; undefined for anything that is not one (a torn or rotten line). */
export function parseRecord(line: Buffer): JournalRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  const event = r.event as Record<string, unknown> | undefined;
  if (typeof r.seq !== 'number' || typeof event !== 'object' || event === null || typeof event.id !== 'string' || typeof event.type !== 'string') return undefined;
  if (r.phase !== undefined && r.phase !== 'first' && r.phase !== 'middle' && r.phase !== 'last') return undefined;
  return value as JournalRecord;
}
