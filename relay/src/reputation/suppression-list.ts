import { join } from 'node:path';
import { close, fsync, open, write } from '../spool/fs-async.ts';
import { readIfExists, writeDurable } from './durable-file.ts';

export type SuppressionReason = 'hard_bounce' | 'complaint';

export interface Suppression {
  readonly domain: string;
  readonly recipient: string;
  readonly reason: SuppressionReason;
  /** Why, in a line: the remote reply or the feedback type. */
  readonly detail: string;
  readonly since: number;
  readonly expiresAt: number;
}

type LogLine = ({ op: 'add' } & Suppression) | { op: 'del'; domain: string; recipient: string };

const FILE = 'suppressions.log';
/** Dead lines tolerated beyond the live ones before the log is rewritten. */
const COMPACT_SLACK = 100;

function key(domain: string, recipient: string): string {
  return `${domain}\n${recipient.toLowerCase()}`;
}

/**
 * Recipients not to send to, per sending domain. An append-only log of JSON lines (`add`,
 * `del`), each append fsynced before the caller goes on; on open the log is replayed, expired
 * entries dropped, and the file rewritten (compacted) when most of its lines are dead.
 */
export class SuppressionList {
  private readonly entries = new Map<string, Suppression>();
  private fd = -1;
  private lines = 0;
  private tail: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(dir: string, now: number): Promise<SuppressionList> {
    const list = new SuppressionList(join(dir, FILE));
    const text = (await readIfExists(list.path))?.toString('utf8') ?? '';
    for (const line of text.split('\n')) {
      if (!line) continue;
      list.lines++;
      try {
        list.apply(JSON.parse(line) as LogLine);
      } catch {
        // a torn last line from a crash mid-append: the append was never acknowledged
      }
    }
    for (const [k, s] of list.entries) if (s.expiresAt <= now) list.entries.delete(k);
    if (list.lines > 2 * list.entries.size + COMPACT_SLACK || !text.endsWith('\n')) await list.compact();
    list.fd = await open(list.path, 'a');
    return list;
  }

  private apply(line: LogLine): void {
    if (typeof line.domain !== 'string' || typeof line.recipient !== 'string') return;
    if (line.op === 'add' && typeof line.expiresAt === 'number') {
      const { op: _op, ...entry } = line;
      this.entries.set(key(line.domain, line.recipient), entry);
    } else if (line.op === 'del') {
      this.entries.delete(key(line.domain, line.recipient));
    }
  }

  private serialise(): string {
    return [...this.entries.values()].map((s) => `${JSON.stringify({ op: 'add', ...s })}\n`).join('');
  }

  private async compact(): Promise<void> {
    const text = this.serialise();
    await writeDurable(this.path, text);
    this.lines = this.entries.size;
  }

  get(domain: string, recipient: string, now: number): Suppression | undefined {
    const entry = this.entries.get(key(domain, recipient));
    return entry && entry.expiresAt > now ? entry : undefined;
  }

  /** Live entries of one domain, oldest first. */
  list(domain: string, now: number): Suppression[] {
    return [...this.entries.values()].filter((s) => s.domain === domain && s.expiresAt > now).sort((a, b) => a.since - b.since);
  }

  /** Suppresses (or re-suppresses, extending the expiry) a recipient; resolves once fsynced. */
  async add(entry: Suppression): Promise<void> {
    const normalised = { ...entry, recipient: entry.recipient.toLowerCase() };
    this.entries.set(key(entry.domain, entry.recipient), normalised);
    await this.append({ op: 'add', ...normalised });
  }

  /** Lifts a suppression; false when there was none. */
  async remove(domain: string, recipient: string, now: number): Promise<boolean> {
    if (!this.get(domain, recipient, now)) return false;
    this.entries.delete(key(domain, recipient));
    await this.append({ op: 'del', domain, recipient: recipient.toLowerCase() });
    return true;
  }

  private append(line: LogLine): Promise<void> {
    const bytes = Buffer.from(`${JSON.stringify(line)}\n`);
    return this.serial(async () => {
      let done = 0;
      while (done < bytes.length) done += await write(this.fd, bytes, done, bytes.length - done, null);
      this.lines++;
      await fsync(this.fd);
    });
  }

  /** Forgets expired entries and, when most lines of the log are dead, rewrites it while running. */
  maintain(now: number): Promise<void> {
    return this.serial(async () => {
      for (const [k, s] of this.entries) if (s.expiresAt <= now) this.entries.delete(k);
      if (this.lines <= 2 * this.entries.size + COMPACT_SLACK) return;
      await this.compact();
      // the old descriptor points at the replaced file
      const old = this.fd;
      this.fd = await open(this.path, 'a');
      await close(old);
    });
  }

  /** Appends and rewrites run one at a time, in order. */
  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.tail.then(work);
    this.tail = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.tail;
    if (this.fd >= 0) await close(this.fd);
    this.fd = -1;
  }
}
