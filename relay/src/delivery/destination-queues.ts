import type { DestinationQueue } from './destination-queue.ts';

/** Below this many queues nothing is swept. */
const MIN_SWEEP = 1_000;

/**
 * The engine's destination queues by route key. There are as many keys as recipient domains
 * (or MX host sets) mail names, which a sender chooses: a plain map kept one queue per key
 * for the life of the process, and every released connection walked all of them. Unused
 * queues (DestinationQueue.unused) are forgotten once the map has doubled since the last
 * sweep, so a sweep costs O(1) per queue added.
 */
export class DestinationQueues {
  private readonly queues = new Map<string, DestinationQueue>();
  private sweepAt: number;

  constructor(private readonly minSweep = MIN_SWEEP) {
    this.sweepAt = minSweep;
  }

  get size(): number {
    return this.queues.size;
  }

  get(key: string): DestinationQueue | undefined {
    return this.queues.get(key);
  }

  add(queue: DestinationQueue): void {
    if (this.queues.size >= this.sweepAt) {
      for (const [key, q] of this.queues) if (q.unused) this.queues.delete(key);
      this.sweepAt = Math.max(this.minSweep, this.queues.size * 2);
    }
    this.queues.set(queue.key, queue);
  }

  values(): IterableIterator<DestinationQueue> {
    return this.queues.values();
  }
}
