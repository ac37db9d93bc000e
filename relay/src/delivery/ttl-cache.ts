/**
 * Values that expire, at most `max` of them. The resolver's keys come from the mail it is
 * given (recipient domains, their MX hosts): a plain map kept every one for the life of the
 * process, expired or not, so a sender naming a new domain per recipient grew it without end.
 * Full, it drops the expired entries, then the least recently stored tenth.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    return entry && entry.expires > now ? entry.value : undefined;
  }

  set(key: string, value: V, expires: number, now: number): void {
    // re-inserted: the map's order is least recently stored first
    this.entries.delete(key);
    if (this.entries.size >= this.max) this.evict(now);
    this.entries.set(key, { value, expires });
  }

  private evict(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expires <= now) this.entries.delete(key);
    if (this.entries.size < this.max * 0.9) return;
    let drop = Math.ceil(this.max / 10);
    for (const key of this.entries.keys()) {
      if (drop-- <= 0) break;
      this.entries.delete(key);
    }
  }
}
