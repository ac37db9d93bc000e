/**
 * The relay-wide cap on open outbound connections. Queues take a slot before connecting and
 * give it back on close; `onRelease` lets the owner hand a freed slot to a queue that was
 * waiting, and `onPressure` to close idle connections when a queue finds the budget spent.
 */
export class ConnectionBudget {
  private open = 0;
  onRelease: () => void = () => undefined;
  onPressure: () => void = () => undefined;

  constructor(private readonly max: number) {}

  get inUse(): number {
    return this.open;
  }

  tryAcquire(): boolean {
    if (this.open >= this.max) {
      this.onPressure();
      return false;
    }
    this.open++;
    return true;
  }

  release(): void {
    this.open--;
    this.onRelease();
  }
}

/**
 * Messages per second to one destination (token bucket, burst of one second's worth). Zero
 * means unlimited.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = Math.max(1, perSecond);
    this.last = now();
  }

  /** Milliseconds to wait before the next message may go (0: now), taking its token. */
  reserve(): number {
    if (this.perSecond <= 0) return 0;
    const t = this.now();
    this.tokens = Math.min(Math.max(1, this.perSecond), this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.perSecond) * 1000);
  }
}
