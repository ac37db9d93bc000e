/**
 * Per-minute counters over the last 24 hours for one sending domain. Memory is bounded: a ring
 * of 1440 buckets, each stamped with its minute so a stale bucket is recognised and reused.
 * Pure: every call takes the time from the caller.
 */

const COUNTER_KINDS = ['sent', 'delivered', 'hardBounces', 'deferrals', 'complaints'] as const;
export type CounterKind = (typeof COUNTER_KINDS)[number];
export type Counts = Record<CounterKind, number>;

const MINUTE = 60_000;
export const DAY_MS = 86_400_000;
const BUCKETS = DAY_MS / MINUTE;

export function emptyCounts(): Counts {
  return { sent: 0, delivered: 0, hardBounces: 0, deferrals: 0, complaints: 0 };
}

/** One persisted bucket: the minute (ms / 60000) and the counts in COUNTER_KINDS order. */
export type BucketRecord = [minute: number, ...counts: number[]];

export class RollingCounters {
  private readonly minutes = new Float64Array(BUCKETS).fill(-1);
  private readonly counts = COUNTER_KINDS.map(() => new Float64Array(BUCKETS));
  /** Sums of the buckets in the ring not yet expired: the 24 h totals without a walk per event. */
  private readonly totals = new Float64Array(COUNTER_KINDS.length);
  /** Every bucket of this minute or older has been expired. */
  private horizon = -Infinity;

  add(kind: CounterKind, now: number, n = 1): void {
    const minute = Math.floor(now / MINUTE);
    this.expire(minute);
    if (minute <= this.horizon) return;
    const slot = minute % BUCKETS;
    if (this.minutes[slot] !== minute) this.clear(slot);
    this.minutes[slot] = minute;
    const i = COUNTER_KINDS.indexOf(kind);
    this.counts[i]![slot]! += n;
    this.totals[i]! += n;
  }

  private clear(slot: number): void {
    this.counts.forEach((c, i) => {
      this.totals[i]! -= c[slot]!;
      c[slot] = 0;
    });
    this.minutes[slot] = -1;
  }

  /** Drops the buckets that left the 24 h window ending at `minute`; each is visited once. */
  private expire(minute: number): void {
    const cutoff = minute - BUCKETS;
    if (cutoff <= this.horizon) return;
    // at most one pass over the ring: a slot may hold any minute up to the cutoff
    for (let m = Math.max(this.horizon + 1, cutoff - BUCKETS + 1); m <= cutoff; m++) {
      const slot = m % BUCKETS;
      const held = this.minutes[slot]!;
      if (held !== -1 && held <= cutoff) this.clear(slot);
    }
    this.horizon = cutoff;
  }

  /** Sums over the buckets newer than `now - windowMs` (at most 24 h). */
  sum(now: number, windowMs: number): Counts {
    const last = Math.floor(now / MINUTE);
    this.expire(last);
    const out = emptyCounts();
    if (windowMs >= DAY_MS) {
      COUNTER_KINDS.forEach((kind, i) => (out[kind] = this.totals[i]!));
      return out;
    }
    for (let minute = Math.floor((now - windowMs) / MINUTE) + 1; minute <= last; minute++) {
      const slot = minute % BUCKETS;
      if (this.minutes[slot] !== minute) continue;
      COUNTER_KINDS.forEach((kind, i) => (out[kind] += this.counts[i]![slot]!));
    }
    return out;
  }

  /** The buckets still inside the 24 h window, for persisting. */
  toRecords(now: number): BucketRecord[] {
    const first = Math.floor((now - DAY_MS) / MINUTE) + 1;
    const out: BucketRecord[] = [];
    for (let slot = 0; slot < BUCKETS; slot++) {
      const minute = this.minutes[slot]!;
      if (minute >= first) out.push([minute, ...this.counts.map((c) => c[slot]!)]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** Restores persisted buckets; malformed ones are skipped. */
  static fromRecords(records: unknown): RollingCounters {
    const counters = new RollingCounters();
    if (!Array.isArray(records)) return counters;
    for (const record of records) {
      if (!Array.isArray(record) || record.length !== COUNTER_KINDS.length + 1) continue;
      if (!record.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)) continue;
      const [minute, ...values] = record as number[];
      COUNTER_KINDS.forEach((kind, i) => counters.add(kind, minute! * MINUTE, values[i]!));
    }
    return counters;
  }
}

export interface Rates {
  readonly bounceRate: number;
  readonly complaintRate: number;
  readonly deferralRate: number;
}

/**
 * bounce rate = hard bounces / sent (sent: recipients whose delivery settled, delivered or
 * refused with 5xx; a DSN arriving later adds a hard bounce to a recipient already counted as
 * sent); complaint rate = complaints / delivered; deferral rate = deferrals / (deferrals + sent).
 * A rate with nothing to divide by is 0.
 */
export function ratesOf(c: Counts): Rates {
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  return {
    bounceRate: ratio(c.hardBounces, c.sent),
    complaintRate: ratio(c.complaints, c.delivered),
    deferralRate: ratio(c.deferrals, c.deferrals + c.sent),
  };
}
