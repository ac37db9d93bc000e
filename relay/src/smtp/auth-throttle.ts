/**
 * Slows down password guessing per client address (IPv6: per /64), before any hashing.
 *
 * Each failed AUTH from an address doubles the delay before that failure is answered (250 ms,
 * 500 ms, ... up to 8 s) within a 15-minute window; a success does not reset it, so a valid
 * account cannot be used to launder guesses. While an address with failures has a check in
 * progress (hashing, or a failure being delayed), its other attempts are refused with 454 4.7.0
 * and cost no scrypt: parallel connections from one address cannot multiply its guess rate.
 * The 454 waits as long as the last failure did (a timer, nothing else), so a client that
 * retries at once is not answered at once. An address without failures may run a few checks at once (apps that open many
 * connections). Guesses spread over many addresses are bounded by the relay-wide hashing
 * limit (scrypt-worker.ts) instead.
 */
const WINDOW_MS = 15 * 60_000;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 8_000;
const MAX_TRACKED = 50_000;
const MAX_PARALLEL_WITHOUT_FAILURES = 4;

export type AuthAttemptVerdict = 'check' | 'throttled';

export function decideAuthAttempt(input: { readonly recentFailures: number; readonly inProgress: number }): AuthAttemptVerdict {
  const allowed = input.recentFailures > 0 ? 1 : MAX_PARALLEL_WITHOUT_FAILURES;
  return input.inProgress < allowed ? 'check' : 'throttled';
}

export class AuthThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly inProgress = new Map<string, number>();

  constructor(private readonly baseDelayMs = BASE_DELAY_MS) {}

  /** Whether `key` may have a password checked now; when it may, call `end(key)` once the answer is sent. */
  begin(key: string, now = Date.now()): AuthAttemptVerdict {
    const verdict = decideAuthAttempt({ recentFailures: this.recentFailures(key, now), inProgress: this.inProgress.get(key) ?? 0 });
    if (verdict === 'check') this.inProgress.set(key, (this.inProgress.get(key) ?? 0) + 1);
    return verdict;
  }

  end(key: string): void {
    const count = this.inProgress.get(key) ?? 0;
    if (count <= 1) this.inProgress.delete(key);
    else this.inProgress.set(key, count - 1);
  }

  /** How long a refused attempt of `key` waits for its 454: as long as its last failure did. */
  penalty(key: string, now = Date.now()): number {
    const count = this.recentFailures(key, now);
    return count === 0 ? 0 : this.delayFor(count);
  }

  /** Records a failure and returns how long to wait before answering it. */
  fail(key: string, now = Date.now()): number {
    let record = this.failures.get(key);
    if (!record || now - record.since > WINDOW_MS) {
      if (this.failures.size >= MAX_TRACKED) this.prune(now);
      record = { count: 0, since: now };
      this.failures.set(key, record);
    }
    record.count++;
    return this.delayFor(record.count);
  }

  private delayFor(failures: number): number {
    return Math.min(this.baseDelayMs * 2 ** (failures - 1), MAX_DELAY_MS);
  }

  private recentFailures(key: string, now: number): number {
    const record = this.failures.get(key);
    return record && now - record.since <= WINDOW_MS ? record.count : 0;
  }

  private prune(now: number): void {
    for (const [key, record] of this.failures) if (now - record.since > WINDOW_MS) this.failures.delete(key);
    if (this.failures.size >= MAX_TRACKED) this.failures.clear();
  }
}
