import { join } from 'node:path';
import { JsonJournal } from '../spool/json-journal.ts';

export type SuppressionReason = 'hard_bounce' | 'complaint' | 'unsubscribe';

export interface Suppression {
  readonly domain: string;
  /** Set when only one category of the domain is suppressed (a newsletter unsubscribe); absent: all its mail. */
  readonly category?: string;
  readonly recipient: string;
  readonly reason: SuppressionReason;
  /** Why, in a line: the remote reply or the feedback type. */
  readonly detail: string;
  readonly since: number;
  readonly expiresAt: number;
}

type LogLine = ({ op: 'add' } & Suppression) | { op: 'del'; domain: string; recipient: string; category?: string };

const FILE = 'suppressions.log';
/** Dead lines tolerated beyond the live ones before the log is rewritten. */
const COMPACT_SLACK = 100;

function key(domain: string, recipient: string, category?: string): string {
  return category ? `${domain}\n${recipient.toLowerCase()}\n${category}` : `${domain}\n${recipient.toLowerCase()}`;
}

/**
 * Recipients not to send to, per sending domain. A journal of `add` and `del` lines (group
 * committed: each change resolves once fsynced); on open the journal is replayed and expired
 * entries dropped, and it is rewritten (compacted) when most of its lines are dead.
 */
export class SuppressionList {
  private readonly entries = new Map<string, Suppression>();

  private constructor(private readonly journal: JsonJournal<LogLine>) {}

  static async open(dir: string, now: number): Promise<SuppressionList> {
    const { journal, records } = await JsonJournal.open<LogLine>(join(dir, FILE));
    const list = new SuppressionList(journal);
    for (const record of records) list.apply(record as LogLine);
    list.expire(now);
    if (list.mostlyDead()) await journal.rewrite(() => list.addLines());
    return list;
  }

  private apply(line: LogLine): void {
    if (typeof line?.domain !== 'string' || typeof line.recipient !== 'string') return;
    const category = typeof line.category === 'string' && line.category ? line.category : undefined;
    if (line.op === 'add' && typeof line.expiresAt === 'number') {
      const { op: _op, ...entry } = line;
      this.entries.set(key(line.domain, line.recipient, category), entry);
    } else if (line.op === 'del') {
      this.entries.delete(key(line.domain, line.recipient, category));
    }
  }

  private expire(now: number): void {
    for (const [k, s] of this.entries) if (s.expiresAt <= now) this.entries.delete(k);
  }

  private mostlyDead(): boolean {
    return this.journal.lines > 2 * this.entries.size + COMPACT_SLACK;
  }

  private addLines(): LogLine[] {
    return [...this.entries.values()].map((s) => ({ op: 'add' as const, ...s }));
  }

  /** The suppression of the whole domain, else (given a category) of that category only. */
  get(domain: string, recipient: string, now: number, category?: string): Suppression | undefined {
    const live = (entry: Suppression | undefined) => (entry && entry.expiresAt > now ? entry : undefined);
    return live(this.entries.get(key(domain, recipient))) ?? (category ? live(this.entries.get(key(domain, recipient, category))) : undefined);
  }

  /** Live entries of one domain, oldest first. */
  list(domain: string, now: number): Suppression[] {
    return [...this.entries.values()].filter((s) => s.domain === domain && s.expiresAt > now).sort((a, b) => a.since - b.since);
  }

  /** Suppresses (or re-suppresses, extending the expiry) a recipient; resolves once fsynced. */
  async add(entry: Suppression): Promise<void> {
    const { category, ...rest } = entry;
    const normalised: Suppression = { ...rest, recipient: entry.recipient.toLowerCase(), ...(category ? { category } : {}) };
    this.entries.set(key(entry.domain, entry.recipient, category), normalised);
    await this.journal.append({ op: 'add', ...normalised });
  }

  /** Lifts a suppression (of the whole domain, or of one category); false when there was none. */
  async remove(domain: string, recipient: string, now: number, category?: string): Promise<boolean> {
    const entry = this.entries.get(key(domain, recipient, category));
    if (!entry || entry.expiresAt <= now) return false;
    this.entries.delete(key(domain, recipient, category));
    await this.journal.append({ op: 'del', domain, recipient: recipient.toLowerCase(), ...(category ? { category } : {}) });
    return true;
  }

  /** Forgets expired entries and, when most lines of the journal are dead, rewrites it while running. */
  async maintain(now: number): Promise<void> {
    this.expire(now);
    if (this.mostlyDead()) await this.journal.rewrite(() => this.addLines());
  }

  async close(): Promise<void> {
    await this.journal.close();
  }
}
