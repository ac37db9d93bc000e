/**
 * The reconcile queue, after client-go's workqueue: keys (`kind/namespace/name`) are
 * deduplicated while they wait; a key being processed is never handed to a second worker, and
 * if it is added meanwhile it runs once more after the current run ends, so no change is
 * missed. Failed keys come back with per-key capped exponential backoff until a run succeeds.
 */

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Unref'd, so a pending retry never keeps the process alive on its own. */
const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface WorkQueueOptions {
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected by tests for determinism. */
  timers?: Timers;
  /** A handler that throws is retried with backoff; this hears about it (for logs). */
  onError?: (key: string, err: unknown) => void;
}

export class WorkQueue {
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timers: Timers;
  readonly #onError: ((key: string, err: unknown) => void) | undefined;
  /** Keys waiting to run, in order; each also in #dirty. */
  readonly #queue: string[] = [];
  /** Keys that need a run: waiting, or added again while processing. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; handle: unknown }>();
  readonly #failures = new Map<string, number>();
  readonly #idleWorkers: (() => void)[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.#baseDelayMs = opts.baseDelayMs ?? 200;
    this.#maxDelayMs = opts.maxDelayMs ?? 5 * 60_000;
    this.#timers = opts.timers ?? realTimers;
    this.#onError = opts.onError;
  }

  /** Keys waiting to run (not counting those processing or delayed). */
  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    // A key in processing is queued when its run ends (see #done).
    if (this.#processing.has(key)) return;
    this.#queue.push(key);
    this.#idleWorkers.shift()?.();
  }

  /** Adds the key after `ms`; of several pending delays for one key the earliest wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.#timers.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.#timers.clearTimeout(pending.handle);
    const handle = this.#timers.setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, handle });
  }

  /** Retries with the key's backoff: base, doubling per failure, capped. */
  addRateLimited(key: string): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.addAfter(key, this.backoffMs(failures));
  }

  /** The delay the n-th consecutive failure (from 0) waits. */
  backoffMs(failures: number): number {
    return Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(failures, 52));
  }

  /** Resets the key's backoff, after a successful run. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Runs `workers` loops until shutdown(); resolves when they have all ended. */
  async run(workers: number, handler: (key: string) => Promise<void>): Promise<void> {
    const loops = Array.from({ length: workers }, async () => {
      for (let key = await this.#next(); key !== undefined; key = await this.#next()) {
        const run = this.#process(key, handler);
        this.#inFlight.add(run);
        await run;
        this.#inFlight.delete(run);
      }
    });
    await Promise.all(loops);
  }

  /** Stops handing out keys, drops waiting and delayed ones, and waits for in-flight handlers. */
  async shutdown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { handle } of this.#delayed.values()) this.#timers.clearTimeout(handle);
    this.#delayed.clear();
    this.#queue.length = 0;
    this.#dirty.clear();
    for (const wake of this.#idleWorkers.splice(0)) wake();
    await Promise.all(this.#inFlight);
  }

  async #process(key: string, handler: (key: string) => Promise<void>): Promise<void> {
    try {
      await handler(key);
      // Success ends the key's run of failures: its next failure starts from the base delay again.
      this.forget(key);
    } catch (err) {
      this.#onError?.(key, err);
      this.addRateLimited(key);
    } finally {
      this.#processing.delete(key);
      if (this.#dirty.has(key) && !this.#shuttingDown) {
        this.#queue.push(key);
        this.#idleWorkers.shift()?.();
      }
    }
  }

  async #next(): Promise<string | undefined> {
    while (!this.#shuttingDown) {
      const key = this.#queue.shift();
      if (key !== undefined) {
        this.#dirty.delete(key);
        this.#processing.add(key);
        return key;
      }
      await new Promise<void>((wake) => this.#idleWorkers.push(wake));
    }
    return undefined;
  }
}
