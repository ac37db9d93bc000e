/**
 * Waits out bursts of changes to a relay's inputs: `kubectl apply -f dir/` with hundreds of
 * SendingDomains becomes one relay.yaml write and one rollout instead of one per domain. A relay
 * is reconciled once its inputs have been quiet for `quietMs`, or at the latest `maxWaitMs`
 * after the burst began, so a steady trickle cannot starve it.
 */
export class Settle {
  readonly #bursts = new Map<string, { first: number; last: number }>();

  constructor(
    private readonly quietMs: number,
    private readonly maxWaitMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** An input of `key` changed now. */
  touch(key: string): void {
    const now = this.now();
    const burst = this.#bursts.get(key);
    if (burst) burst.last = now;
    else this.#bursts.set(key, { first: now, last: now });
  }

  /** How long `key` should still wait; 0 means go ahead (and forgets the burst). */
  waitMs(key: string): number {
    const burst = this.#bursts.get(key);
    if (!burst) return 0;
    const now = this.now();
    const wait = Math.min(burst.last + this.quietMs, burst.first + this.maxWaitMs) - now;
    if (wait > 0) return wait;
    this.#bursts.delete(key);
    return 0;
  }

  /** Drops the burst of a relay that is gone, so one created later under its name starts afresh. */
  forget(key: string): void {
    this.#bursts.delete(key);
  }

  /** New SendingDomains are waited for at most this long, too (see pendingDomains). */
  get maxWait(): number {
    return this.maxWaitMs;
  }
}
