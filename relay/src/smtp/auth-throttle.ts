/**
 * Slows down password guessing: each failed AUTH from an address doubles the delay before the
 * next failure is answered (250 ms, 500 ms, ... up to 8 s) within a 15-minute window. A
 * success does not reset it, so a valid account cannot be used to launder guesses.
 */
const WINDOW_MS = 15 * 60_000;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;
const MAX_TRACKED = 50_000;

export class AuthThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly baseDelayMs = BASE_DELAY_MS) {}

  /** Records a failure and returns how long to wait before answering it. */
  fail(address: string, now = Date.now()): number {
    let record = this.failures.get(address);
    if (!record || now - record.since > WINDOW_MS) {
      if (this.failures.size >= MAX_TRACKED) this.prune(now);
      record = { count: 0, since: now };
      this.failures.set(address, record);
    }
    record.count++;
    return Math.min(this.baseDelayMs * 2 ** (record.count - 1), MAX_DELAY_MS);
  }

  private prune(now: number): void {
    for (const [address, record] of this.failures) if (now - record.since > WINDOW_MS) this.failures.delete(address);
    if (this.failures.size >= MAX_TRACKED) this.failures.clear();
  }
}
