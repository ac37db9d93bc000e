import http from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WebhookConfig } from '../config/schema.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import { readIfExists, writeDurable } from '../spool/durable-file.ts';
import { decideRetry, type RequestResult } from './decide-retry.ts';
import type { EventJournal, JournalPosition, JournalRecord } from './event-journal.ts';
import { postWebhook } from './post-webhook.ts';
import { decideRoute, type WebhookFilter } from './route-event.ts';
import { buildSignatureHeader, parseSigningKeys } from './sign-payload.ts';

export interface DispatcherDeps {
  readonly journal: EventJournal;
  readonly webhook: WebhookConfig;
  /** `relay` for a MailRelay webhook, else its sending domain (the `scope` label). */
  readonly scope: string;
  /** Where the cursor file goes. */
  readonly cursorDir: string;
  readonly maxRetryDelay: number;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly random?: () => number;
}

interface Item {
  readonly record: JournalRecord;
  readonly next: JournalPosition;
}

/** Keys are read again at most this often, so a rotated Secret is picked up without a restart. */
const KEY_RELOAD_MS = 5000;
/** Cursor writes are coalesced: a crash replays at most this much (at-least-once, same ids). */
const CURSOR_WRITE_MS = 200;

/**
 * Delivers one webhook's events in journal order, one request at a time (one event, or up to
 * `batch.maxEvents` as a JSON array), from its own position, which it keeps in a cursor file.
 * A failed request is retried (decideRetry) before anything later is sent; only the request's
 * events are in memory, the rest wait in the journal.
 */
export class WebhookDispatcher {
  private committed: JournalPosition;
  private saved: JournalPosition;
  private readPos: JournalPosition;
  private backlog = 0;
  private inFlight: Item[] = [];
  private stopped = false;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;
  private cursorWrite: Promise<void> = Promise.resolve();
  private keys: { at: number; keys: string[] | undefined } | undefined;
  private readonly agent: http.Agent;
  private readonly url: URL;
  private readonly filter: WebhookFilter;
  private readonly labels: { scope: string; webhook: string };
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly deps: DispatcherDeps,
    position: JournalPosition,
  ) {
    const { webhook, scope } = deps;
    this.committed = this.saved = this.readPos = position;
    this.url = new URL(webhook.url);
    this.agent = new (this.url.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 1 });
    this.filter = { domain: scope === 'relay' ? undefined : scope, events: webhook.events, deferrals: webhook.deferrals };
    this.labels = { scope, webhook: webhook.name };
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.unsubscribe = deps.journal.onAppend((records) => {
      for (const r of records) if (decideRoute(this.filter, r)) this.backlog++;
      this.wake?.();
    });
  }

  /** Resumes from the cursor file, or starts at the journal's end for a new webhook. */
  static async open(deps: DispatcherDeps): Promise<WebhookDispatcher> {
    const saved = await readIfExists(cursorPath(deps));
    const position = (saved && parsePosition(saved.toString('utf8'))) || deps.journal.end;
    const dispatcher = new WebhookDispatcher(deps, position);
    for await (const { record } of deps.journal.scan(position)) if (decideRoute(dispatcher.filter, record)) dispatcher.backlog++;
    return dispatcher;
  }

  /** The position the journal must keep (what a restart would read from). */
  get position(): JournalPosition {
    return this.saved;
  }

  /** Events not yet delivered or given up, and the time of the oldest (for the gauges). */
  stats(): { backlog: number; oldest: number | undefined } {
    const head = this.inFlight[0];
    return { backlog: this.backlog, oldest: head ? Date.parse(head.record.event.time) : undefined };
  }

  start(): void {
    this.running = this.run().catch((err: unknown) => {
      this.deps.logger.error('webhook dispatcher stopped', { ...this.labels, error: describeError(err) });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    this.wake?.();
    await this.running;
    clearTimeout(this.cursorTimer);
    await this.writeCursor();
    this.agent.destroy();
  }

  /**
   * The journal drops `segment` (over maxBacklog): what this webhook had not read there is
   * lost and counted. A request in flight from it still completes.
   */
  async abandon(segment: number): Promise<void> {
    if (this.readPos.segment > segment) return;
    let lost = 0;
    for await (const { record, next } of this.deps.journal.scan(this.readPos)) {
      if (next.segment > segment) break;
      if (decideRoute(this.filter, record)) lost++;
    }
    this.readPos = { segment: segment + 1, offset: 0 };
    if (this.inFlight.length === 0) this.committed = this.readPos;
    if (this.saved.segment <= segment) this.saved = { segment: segment + 1, offset: 0 };
    this.count('overflow', lost);
    if (lost > 0) this.deps.logger.warn('webhook events dropped over the backlog bound', { ...this.labels, events: lost });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!(await this.step())) return;
      } catch (err) {
        // a journal read failed (disk trouble): try again later rather than never
        this.deps.logger.error('webhook dispatcher error', { ...this.labels, error: describeError(err) });
        await this.sleep(1000, true);
      }
    }
  }

  /** One request's worth of work; false when stopping with events unfinished. */
  private async step(): Promise<boolean> {
    const batch = await this.collect();
    if (batch.length === 0) {
      await this.sleep(60_000);
      return true;
    }
    this.inFlight = batch;
    const finished = await this.deliver(batch);
    this.inFlight = [];
    // unfinished (stopping): the events stay after the cursor for the next start
    if (!finished) return false;
    this.committed = maxPosition(batch.at(-1)!.next, this.committed);
    this.scheduleCursorWrite();
    return true;
  }

  /** The next request's events: up to maxEvents, waiting up to maxDelay after the first one for more. */
  private async collect(): Promise<Item[]> {
    const max = this.deps.webhook.batch?.maxEvents ?? 1;
    const items = await this.read(max);
    const maxDelay = this.deps.webhook.batch?.maxDelay;
    if (items.length === 0 || maxDelay === undefined) return items;
    const deadline = Date.parse(items[0]!.record.event.time) + maxDelay;
    while (items.length < max && !this.stopped) {
      const wait = deadline - this.now();
      if (wait <= 0) break;
      await this.sleep(wait);
      items.push(...(await this.read(max - items.length)));
    }
    return items;
  }

  /** Reads matching records from the read position, moving it past those that do not match. */
  private async read(max: number): Promise<Item[]> {
    const items: Item[] = [];
    for await (const item of this.deps.journal.scan(this.readPos)) {
      this.readPos = item.next;
      if (decideRoute(this.filter, item.record)) items.push(item);
      if (items.length >= max) break;
    }
    if (items.length === 0 && this.inFlight.length === 0) {
      this.committed = this.readPos;
      this.scheduleCursorWrite();
    }
    return items;
  }

  /** Sends until delivered, rejected or expired (true), or the dispatcher stops (false). */
  private async deliver(batch: Item[]): Promise<boolean> {
    const { webhook } = this.deps;
    const events = batch.map((i) => i.record.event);
    const body = Buffer.from(JSON.stringify(webhook.batch ? events : events[0]));
    let failures = 0;
    let firstFailureAt = 0;
    for (;;) {
      const started = this.now();
      const result = await this.attempt(body);
      const now = this.now();
      this.deps.metrics.webhookRequestDuration.observe(this.labels, (now - started) / 1000);
      if (failures === 0) firstFailureAt = now;
      failures++;
      const decision = decideRetry({ result, failures, firstFailureAt, now, retryFor: webhook.retryFor, maxDelay: this.deps.maxRetryDelay, random: this.random() });
      if (decision.kind !== 'retry') {
        this.count(decision.kind, batch.length);
        if (decision.kind !== 'delivered') this.deps.logger.warn(`webhook events ${decision.kind}`, { ...this.labels, events: batch.length, result: describeResult(result) });
        return true;
      }
      this.count('retried', batch.length);
      this.deps.logger.info('webhook request failed, will retry', { ...this.labels, events: batch.length, result: describeResult(result), delayMs: decision.delay });
      // stopping ends the wait; the events stay in the journal for the next start
      await this.sleep(decision.delay, true);
      if (this.stopped) return false;
    }
  }

  private count(result: 'delivered' | 'retried' | 'rejected' | 'expired' | 'overflow', events: number): void {
    if (events === 0) return;
    this.deps.metrics.webhookEvents.inc({ ...this.labels, result }, events);
    if (result !== 'retried') this.backlog = Math.max(0, this.backlog - events);
  }

  private async attempt(body: Buffer): Promise<RequestResult> {
    const keys = await this.signingKeys();
    if (!keys) return { error: 'no signing key in secretFile' };
    const signature = buildSignatureHeader(keys, Math.floor(this.now() / 1000), body);
    return postWebhook(this.url, body, { 'x-mail-relay-signature': signature }, this.deps.webhook.timeout, this.agent);
  }

  private async signingKeys(): Promise<string[] | undefined> {
    const now = this.now();
    if (this.keys && now - this.keys.at < KEY_RELOAD_MS) return this.keys.keys;
    let keys: string[] | undefined;
    try {
      keys = parseSigningKeys(await readFile(this.deps.webhook.secretFile, 'utf8'));
    } catch (err) {
      this.deps.logger.error('webhook secretFile unreadable', { ...this.labels, code: (err as NodeJS.ErrnoException).code });
      keys = undefined;
    }
    this.keys = { at: now, keys };
    return keys;
  }

  /** Waits `ms`, or less when events arrive (unless `fixed`) or the dispatcher stops. */
  private sleep(ms: number, fixed = false): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === wake) this.wake = undefined;
        resolve();
      };
      const wake = (): void => {
        if (!fixed || this.stopped) done();
      };
      const timer = setTimeout(done, ms);
      this.wake = wake;
    });
  }

  private scheduleCursorWrite(): void {
    if (this.cursorTimer || this.stopped) return;
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = undefined;
      void this.writeCursor();
    }, CURSOR_WRITE_MS);
  }

  private writeCursor(): Promise<void> {
    this.cursorWrite = this.cursorWrite.then(async () => {
      const position = this.committed;
      if (comparePositions(position, this.saved) === 0) return;
      try {
        await writeDurable(cursorPath(this.deps), JSON.stringify(position));
        this.saved = position;
      } catch (err) {
        this.deps.logger.error('webhook cursor not saved', { ...this.labels, error: describeError(err) });
      }
    });
    return this.cursorWrite;
  }
}

function cursorPath(deps: DispatcherDeps): string {
  return join(deps.cursorDir, `${deps.scope}~${deps.webhook.name}.json`);
}

function parsePosition(text: string): JournalPosition | undefined {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (Number.isSafeInteger(v.segment) && Number.isSafeInteger(v.offset)) return { segment: v.segment as number, offset: v.offset as number };
  } catch {
    // an unreadable cursor: start over at the journal's end rather than not at all
  }
  return undefined;
}

export function comparePositions(a: JournalPosition, b: JournalPosition): number {
  return a.segment - b.segment || a.offset - b.offset;
}

function maxPosition(a: JournalPosition, b: JournalPosition): JournalPosition {
  return comparePositions(a, b) >= 0 ? a : b;
}

function describeResult(result: RequestResult): string {
  return 'status' in result ? `HTTP ${result.status}` : result.error;
}
