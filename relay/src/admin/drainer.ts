import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Spool } from '../spool/spool.ts';
import type { SpoolEntry } from '../spool/types.ts';
import type { DrainRequest } from './drain-request.ts';
import { postHandoff, type DrainTarget } from './handoff-client.ts';
import { encodeFrame, handoffId } from './handoff-wire.ts';

export interface DrainerDeps {
  readonly spool: Spool;
  readonly logger: Logger;
  /** This spool's identity in handoff ids (origin-id.ts). */
  readonly origin: string;
  /** The admin token of this pod: every pod of a relay has the same one, so it opens the peers' too. */
  readonly ownToken: string | undefined;
  /** Out of the Service, `quiesceMs` later listeners closed and sessions finished, delivery stopped. */
  readonly stopIntake: (quiesceMs: number) => Promise<void>;
  /** Imports being committed here (a drain is done only when none is). */
  readonly importing: () => number;
  readonly onHandedOff?: (count: number) => void;
}

export interface DrainStatus {
  readonly state: 'idle' | 'draining' | 'drained';
  /** Messages still queued here. */
  readonly left: number;
  readonly handedOff: number;
  readonly startedAt?: string;
  readonly targets: string[];
  readonly lastError?: string;
}

/** Messages per handoff request and their bytes: one group commit at the peer covers a batch. */
const BATCH = 128;
const BATCH_BYTES = 16 * 2 ** 20;
const REQUEST_TIMEOUT_MS = 60_000;
const IDLE_POLL_MS = 200;
const MAX_BACKOFF_MS = 5_000;

/**
 * The leaving side of a scale-down (`POST /v1/drain`). Once started it stops intake and
 * delivery for good (a pod that is kept after all is restarted by the operator, and comes back
 * with whatever is still queued), then hands every queued message to the targets, one batch in
 * flight per target: a message is claimed (so no admin action touches it meanwhile), sent, and
 * deleted here (fsynced) only after the peer acknowledged it as fsynced there. A failed batch is
 * released and tried again, on the next target, after a bounded backoff. Messages a delivery
 * attempt still holds are handed off when the attempt ends. A kill at any instant loses
 * nothing: at most the batch in flight is queued on both sides, and the peer's handoff record
 * turns the retry into a no-op.
 */
export class Drainer {
  private targets: DrainTarget[] = [];
  private startedAt: number | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private handedOff = 0;
  private lastError: string | undefined;
  private readonly wakers = new Set<() => void>();

  constructor(private readonly deps: DrainerDeps) {}

  get active(): boolean {
    return this.startedAt !== undefined;
  }

  /** Starts the drain, or replaces its targets (a peer came back with a new address). */
  start(request: DrainRequest, now = Date.now()): DrainStatus {
    const targets = request.targets.map((t) => ({ host: t.host, port: t.port, token: t.token ?? this.deps.ownToken ?? '' }));
    this.targets = targets;
    if (this.running) {
      this.deps.logger.info('drain targets replaced', { targets: targets.map(describeTarget) });
      return this.status();
    }
    this.startedAt = now;
    this.deps.logger.warn('drain started', { targets: targets.map(describeTarget), queued: this.deps.spool.size, quiesceMs: request.quiesceMs });
    this.running = this.run(request.quiesceMs).catch((err: unknown) => {
      this.lastError = describeError(err);
      this.deps.logger.error('drain failed', { error: this.lastError });
    });
    return this.status();
  }

  status(): DrainStatus {
    const left = this.deps.spool.size;
    return {
      state: this.startedAt === undefined ? 'idle' : left === 0 && this.deps.importing() === 0 ? 'drained' : 'draining',
      left,
      handedOff: this.handedOff,
      ...(this.startedAt !== undefined ? { startedAt: new Date(this.startedAt).toISOString() } : {}),
      targets: this.targets.map(describeTarget),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /** Ends the handoff loop (process shutdown); the batch in flight finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.wakers) wake();
    await this.running;
  }

  private async run(quiesceMs: number): Promise<void> {
    await this.deps.stopIntake(quiesceMs);
    if (this.stopped) return;
    this.deps.logger.info('drain handing off', { queued: this.deps.spool.size });
    // one worker per target slot; the targets may be replaced while they run
    const workers = Math.max(1, this.targets.length);
    await Promise.all(Array.from({ length: workers }, (_, i) => this.worker(i)));
  }

  private async worker(slot: number): Promise<void> {
    let failures = 0;
    let turn = slot;
    let reportedEmpty = false;
    while (!this.stopped) {
      const batch = this.claimBatch();
      if (batch.length === 0) {
        if (this.deps.spool.size === 0 && !reportedEmpty && slot === 0) {
          reportedEmpty = true;
          this.deps.logger.warn('drain finished: nothing left queued', { handedOff: this.handedOff });
        }
        await this.sleep(IDLE_POLL_MS);
        continue;
      }
      reportedEmpty = false;
      const target = this.targets[turn % this.targets.length]!;
      turn++;
      try {
        await this.handOff(target, batch);
        failures = 0;
      } catch (err) {
        for (const e of batch) this.deps.spool.release(e.meta.id);
        failures++;
        this.lastError = describeError(err);
        this.deps.logger.warn('drain handoff failed; retrying', { target: describeTarget(target), messages: batch.length, error: this.lastError });
        await this.sleep(Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(failures, 5)));
      }
    }
  }

  /**
   * Claims up to a batch of messages no delivery attempt or admin action holds; at most a fair
   * share of the queue, so that a small queue too is spread over every target.
   */
  private claimBatch(): SpoolEntry[] {
    const batch: SpoolEntry[] = [];
    const limit = Math.min(BATCH, Math.ceil(this.deps.spool.size / Math.max(1, this.targets.length)));
    let bytes = 0;
    for (const entry of this.deps.spool.values()) {
      if (entry.leased) continue;
      if (batch.length > 0 && (batch.length >= limit || bytes + entry.meta.size > BATCH_BYTES)) break;
      const claimed = this.deps.spool.claim(entry.meta.id);
      if (typeof claimed !== 'object') continue;
      batch.push(claimed);
      bytes += claimed.meta.size;
    }
    return batch;
  }

  private async handOff(target: DrainTarget, batch: SpoolEntry[]): Promise<void> {
    const { spool, origin } = this.deps;
    const frames: Buffer[] = [];
    for (const entry of batch) frames.push(...encodeFrame(origin, entry.meta, await spool.readBody(entry)));
    const answers = await postHandoff(target, frames, REQUEST_TIMEOUT_MS);
    const acked = new Set(answers.map((a) => a.handoff));
    const done = batch.filter((e) => acked.has(handoffId(origin, e.meta.id)));
    for (const e of batch) if (!acked.has(handoffId(origin, e.meta.id))) spool.release(e.meta.id);
    // concurrently: one fsync covers the batch's REMOVE records
    await Promise.all(done.map((e) => spool.removeClaimed(e)));
    this.handedOff += done.length;
    this.deps.onHandedOff?.(done.length);
    this.deps.logger.info('drain batch handed off', { target: describeTarget(target), messages: done.length, left: spool.size });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(t);
        this.wakers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}

function describeTarget(t: { host: string; port: number }): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}
