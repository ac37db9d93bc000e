/**
 * Token buckets for unauthenticated report intake, one per key (a client address, a reported
 * domain). Each key may send `burst` reports at once and `perMinute` a minute after that.
 * At most `maxKeys` buckets are kept: past that the least recently used is forgotten, so an
 * attacker with many addresses costs bounded memory (and gets, at worst, fresh buckets).
 */
export class ReportRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly options: { readonly perMinute: number; readonly burst: number; readonly maxKeys: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one report's token for the key; false when the key has none left. */
  take(key: string): boolean {
    const now = this.now();
    const { perMinute, burst, maxKeys } = this.options;
    const bucket = this.buckets.get(key);
    const tokens = bucket ? Math.min(burst, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000) : burst;
    this.buckets.delete(key);
    if (this.buckets.size >= maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(key, { tokens: tokens >= 1 ? tokens - 1 : tokens, at: now });
    return tokens >= 1;
  }
}
