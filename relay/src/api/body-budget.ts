/**
 * A budget of request-body bytes the API holds at once, across requests. A body is a buffer,
 * its string and its parsed JSON (several times its size); ten parallel 30 MiB bodies took the
 * relay to 3.8 GB RSS. Requests beyond the budget wait their turn, unread: their sockets apply
 * TCP back-pressure to the client, and requestTimeout still ends one that waits too long.
 */
export class BodyBudget {
  private used = 0;
  private readonly waiting: Array<{ bytes: number; start: () => void }> = [];

  constructor(private readonly limit: number) {}

  /** Resolves with a release function once `bytes` (capped at the limit) fit. */
  async acquire(bytes: number): Promise<() => void> {
    const cost = Math.min(bytes, this.limit);
    if (this.waiting.length > 0 || this.used + cost > this.limit) {
      // in arrival order, so a large body is not passed over forever by small ones
      await new Promise<void>((start) => this.waiting.push({ bytes: cost, start }));
    } else {
      this.used += cost;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= cost;
      this.admit();
    };
  }

  private admit(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.limit) {
      const next = this.waiting.shift()!;
      this.used += next.bytes;
      next.start();
    }
  }
}
