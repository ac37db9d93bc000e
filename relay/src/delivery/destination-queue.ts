import type { Readable } from 'node:stream';
import type { ConnectionBudget} from './limits.ts';
import { RateLimiter } from './limits.ts';
import { OutboundConnection, type OutboundTarget, type SessionTls } from './outbound-connection.ts';
import { outcomesForConnectionFailure, outcomesForError, type RecipientOutcome } from './outcome.ts';

/** One transaction waiting for a connection: some recipients of one message. */
export interface DeliveryJob {
  readonly from: string;
  readonly recipients: readonly string[];
  /** Loaded only once a connection is ready, so a queue of waiting jobs holds no bodies. */
  readonly body: () => Promise<Buffer | Readable>;
  readonly done: (outcomes: RecipientOutcome[], session: JobSession) => void;
}

/** What a job's transaction went over, or why no connection could be had (MTA-STS counts both). */
export interface JobSession {
  /** The host that answered. */
  readonly host?: string;
  /** Undefined in clear text. */
  readonly tls?: SessionTls;
  /** No connection could be opened (every job of a dead destination gets the error). */
  readonly connectError?: Error;
}

const IDLE_CLOSE_MS = 5_000;
/** How long a queue with nothing to do is kept (its rate and dead-destination state with it). */
const FORGET_AFTER_MS = 5 * 60_000;

/**
 * The ready queue of one destination (the smarthost, or an MX host set shared by the domains
 * that use it). Up to `maxConnections` connections work through the jobs, each reused for
 * several transactions, within the relay-wide budget and the destination's message rate.
 * When no connection can be opened, every waiting job is deferred at once with that reason,
 * so a dead destination does not hold messages in memory until their turn comes.
 */
export class DestinationQueue {
  private readonly jobs: DeliveryJob[] = [];
  private readonly idle: Array<{ conn: OutboundConnection; timer: NodeJS.Timeout }> = [];
  private workers = 0;
  private open = 0;
  /** Of `open`, the connections still being set up (not usable yet). */
  private connecting = 0;
  private readonly rate: RateLimiter;
  /** After a failed connect, jobs are deferred at once until then (Postfix's dead destination). */
  private deadUntil = 0;
  private deadError: Error | undefined;
  private lastUsedAt: number;

  constructor(
    readonly key: string,
    private target: OutboundTarget,
    private readonly maxConnections: number,
    messagesPerSecond: number,
    private readonly budget: ConnectionBudget,
    private readonly addressesOf: (host: string) => Promise<string[]>,
    private readonly onConnectionOpened: (conn: OutboundConnection) => void,
    private readonly deadForMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.rate = new RateLimiter(messagesPerSecond);
    this.lastUsedAt = now();
  }

  /**
   * Nothing waiting or open, no dead-destination mark, and not asked for in FORGET_AFTER_MS
   * (the engine holds a queue it was given only while the rest of a message's routes resolve).
   */
  get unused(): boolean {
    const now = this.now();
    return this.jobs.length === 0 && this.workers === 0 && this.open === 0 && now >= this.deadUntil && now - this.lastUsedAt >= FORGET_AFTER_MS;
  }

  get pending(): number {
    return this.jobs.length;
  }

  get idleConnections(): number {
    return this.idle.length;
  }

  /** The MX host order can change between DNS lookups; new connections use the latest. */
  updateTarget(target: OutboundTarget): void {
    this.target = target;
    this.lastUsedAt = this.now();
  }

  push(job: DeliveryJob): void {
    this.lastUsedAt = this.now();
    if (this.deadError && this.now() < this.deadUntil) {
      job.done(outcomesForConnectionFailure(job.recipients, this.deadError), { connectError: this.deadError });
      return;
    }
    this.jobs.push(job);
    this.pump();
  }

  /** Starts work the budget held back. */
  pump(): void {
    while (this.jobs.length > 0 && this.idle.length > 0) {
      const { conn, timer } = this.idle.pop()!;
      clearTimeout(timer);
      if (conn.broken) {
        // the server closed it while it sat idle
        conn.close();
        this.closed();
        continue;
      }
      void this.work(conn);
    }
    while (this.jobs.length > this.workers && this.open < this.maxConnections && this.budget.tryAcquire()) {
      this.open++;
      void this.work(undefined);
    }
  }

  private async work(existing: OutboundConnection | undefined): Promise<void> {
    this.workers++;
    let conn = existing;
    try {
      if (!conn) {
        this.connecting++;
        try {
          conn = await OutboundConnection.open(this.target, this.addressesOf);
          this.connecting--;
          this.deadError = undefined;
          this.onConnectionOpened(conn);
        } catch (err) {
          this.connecting--;
          this.closed();
          // Established connections to this destination still drain the queue; without one,
          // nobody will. Attempts still under way do not count: each failure would start another
          // (pump), so with many jobs waiting the queue was never marked dead and held them all.
          if (this.open === this.connecting) this.markDead(err as Error);
          return;
        }
      }
      // a connection that waited idle may have been closed by the server in the meantime; if its
      // first transaction finds it gone, the job goes back to the queue for a fresh connection
      let reused = existing !== undefined;
      for (let job = this.jobs.shift(); job; job = this.jobs.shift()) {
        const wait = this.rate.reserve();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        let outcomes: RecipientOutcome[];
        let complete = false;
        let connectionLost = false;
        try {
          ({ outcomes, complete, connectionLost } = await conn.send(job.from, job.recipients, await job.body()));
        } catch (err) {
          // the body could not be read: nothing was sent
          outcomes = outcomesForError(job.recipients, err as Error, conn.host);
        }
        if (reused && connectionLost) {
          this.jobs.unshift(job);
          conn.close();
          this.closed();
          conn = undefined;
          break;
        }
        reused = false;
        job.done(outcomes, { host: conn.host, ...(conn.tls ? { tls: conn.tls } : {}) });
        if (conn.broken || (!complete && !(await conn.reset()))) {
          conn.close();
          this.closed();
          conn = undefined;
          break;
        }
      }
      if (conn) this.park(conn);
    } finally {
      this.workers--;
      // a connection that broke mid-queue leaves work behind for a fresh one
      if (this.jobs.length > 0) this.pump();
    }
  }

  private markDead(err: Error): void {
    this.deadError = err;
    this.deadUntil = this.now() + this.deadForMs;
    const jobs = this.jobs.splice(0);
    for (const job of jobs) job.done(outcomesForConnectionFailure(job.recipients, err), { connectError: err });
  }

  private park(conn: OutboundConnection): void {
    const timer = setTimeout(() => {
      const i = this.idle.findIndex((e) => e.conn === conn);
      if (i !== -1) this.idle.splice(i, 1);
      conn.close();
      this.closed();
    }, IDLE_CLOSE_MS);
    timer.unref();
    this.idle.push({ conn, timer });
  }

  private closed(): void {
    this.open--;
    this.budget.release();
  }

  /** Closes idle connections (shutdown, or another destination needs the budget). */
  closeIdle(): void {
    for (const { conn, timer } of this.idle.splice(0)) {
      clearTimeout(timer);
      conn.close();
      this.closed();
    }
  }
}
