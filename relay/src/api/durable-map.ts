import { JsonJournal } from '../spool/json-journal.ts';

export interface DurableMapOptions<V> {
  /** Entries older than this are dropped (ms). */
  readonly retentionMs: number;
  /** At most this many entries; beyond it the oldest go first, whatever their age. */
  readonly maxEntries: number;
  /** Checks a value read back from disk (the file is input like any other). */
  readonly isValue: (value: unknown) => value is V;
  readonly now?: () => number;
  /** Called when an entry is evicted before its retention ended (the bound was reached). */
  readonly onEarlyEviction?: () => void;
  /** A failed compaction (the journal keeps growing; the next append tries again). */
  readonly onCompactionError?: (err: unknown) => void;
}

type Line<V> = [key: string, at: number, value: V];

/**
 * A bounded map that survives restarts: kept in memory, persisted in a JsonJournal, compacted
 * on open and whenever the journal holds more than twice the live entries. Insertion order is
 * age order, so expiry and eviction both take from the front.
 */
export class DurableMap<V> {
  private readonly entries = new Map<string, { at: number; value: V }>();
  private readonly now: () => number;
  private compacting: Promise<void> | undefined;

  private constructor(
    private readonly journal: JsonJournal<Line<V>>,
    private readonly options: DurableMapOptions<V>,
  ) {
    this.now = options.now ?? Date.now;
  }

  static async open<V>(path: string, options: DurableMapOptions<V>): Promise<DurableMap<V>> {
    const { journal, records } = await JsonJournal.open<Line<V>>(path);
    const map = new DurableMap<V>(journal, options);
    for (const r of records) {
      if (Array.isArray(r) && r.length === 3 && typeof r[0] === 'string' && typeof r[1] === 'number' && options.isValue(r[2])) {
        map.entries.delete(r[0]);
        map.entries.set(r[0], { at: r[1], value: r[2] });
      }
    }
    map.expire();
    await journal.rewrite(() => map.lines());
    return map;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e || e.at < this.now() - this.options.retentionMs) return undefined;
    return e.value;
  }

  /** Resolves once the entry is durable. */
  async set(key: string, value: V): Promise<void> {
    const at = this.now();
    // in memory first, so a compaction that starts meanwhile writes it too
    this.entries.delete(key);
    this.entries.set(key, { at, value });
    this.expire();
    try {
      await this.journal.append([key, at, value]);
    } catch (err) {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
      throw err;
    }
    if (this.journal.lines > Math.max(10_000, 2 * this.entries.size)) this.compact();
  }

  private expire(): void {
    const cutoff = this.now() - this.options.retentionMs;
    for (const [key, e] of this.entries) {
      if (e.at >= cutoff && this.entries.size <= this.options.maxEntries) break;
      if (e.at >= cutoff) this.options.onEarlyEviction?.();
      this.entries.delete(key);
    }
  }

  private lines(): Array<Line<V>> {
    return [...this.entries].map(([key, e]) => [key, e.at, e.value]);
  }

  private compact(): void {
    this.compacting ??= this.journal
      .rewrite(() => this.lines())
      .catch((err: unknown) => this.options.onCompactionError?.(err))
      .finally(() => {
        this.compacting = undefined;
      });
  }

  async close(): Promise<void> {
    await this.compacting;
    await this.journal.close();
  }
}
