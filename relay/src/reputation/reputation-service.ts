import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DomainConfig, RelayConfig } from '../config/schema.ts';
import { loadVerpKeyFile } from '../config/load-config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import { DAY_MS, RollingCounters, ratesOf, type CounterKind, type Counts, type Rates } from './rolling-counters.ts';
import { SuppressionList, type Suppression, type SuppressionReason } from './suppression-list.ts';
import { ensureDir, readIfExists, writeDurable } from '../spool/durable-file.ts';
import { buildVerpAddress } from './verp.ts';
import { FeedbackLedger, type FeedbackKind, type SentRecord, type SentRef } from './feedback-ledger.ts';
import type { RecipientOutcomeEvent } from '../delivery/delivery-engine.ts';

import type { SendGate } from './send-gate.ts';

export interface PauseInfo {
  readonly since: number;
  readonly reason: string;
  /** `reputation`: a threshold breach (lifted by resume); `config`: domains[].paused. */
  readonly source: 'reputation' | 'config';
}

interface DomainState {
  /** The last 24 h, for metrics and the API. */
  window: RollingCounters;
  /** Since the last resume: what breaches are judged on, so a resumed domain starts clean. */
  breach: RollingCounters;
  pause: { since: number; reason: string } | undefined;
  breaching: boolean;
}

export interface DomainReputation {
  readonly domain: string;
  readonly paused: PauseInfo | undefined;
  readonly thresholds: DomainConfig['reputation'];
  readonly windows: { readonly '1h': Counts & Rates; readonly '24h': Counts & Rates };
}


const DIR = 'reputation';
const STATE_FILE = 'state.json';
const COUNTERS_FILE = 'counters.json';
const KEY_FILE = 'verp.key';
const HOUR_MS = 3_600_000;
const SAVE_INTERVAL_MS = 60_000;

/**
 * Recipients of these statuses are suppressed after a hard bounce: the address is bad (5.1.x),
 * the mailbox disabled (5.2.1), or the server gave no detail (5.0.0, a bare 550). Policy and
 * content refusals (5.7.x, 5.6.x, 5.3.x, a full mailbox) say nothing about the address.
 */
function suppressesRecipient(status: string): boolean {
  return /^5\.1\.\d{1,3}$/.test(status) || status === '5.2.1' || status === '5.0.0';
}

/** An unsubscribe stays until someone deletes it; a century says so in a finite number. */
const UNSUBSCRIBE_EXPIRY_MS = 100 * 365 * 86_400_000;

function formatRate(rate: number): string {
  return rate.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
}

/**
 * Reputation of every sending domain: rolling counters, threshold breaches that pause a domain,
 * the suppression list, and the VERP key. Counters are saved to the spool directory every
 * minute, after each feedback report and on close; pauses as they happen (fsynced).
 */
export class ReputationService implements SendGate {
  private readonly states = new Map<string, DomainState>();
  private domains: Map<string, DomainConfig>;
  private listeners: Array<() => void> = [];
  private saveTimer: NodeJS.Timeout | undefined;
  private writes: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private config: RelayConfig,
    private readonly suppressions: SuppressionList,
    private readonly ledger: FeedbackLedger,
    readonly verpKey: Buffer | undefined,
    private readonly metrics: RelayMetrics,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    this.domains = new Map(config.domains.map((d) => [d.name, d]));
  }

  static async open(opts: { config: RelayConfig; metrics: RelayMetrics; logger: Logger; now?: () => number }): Promise<ReputationService> {
    const { config, metrics, logger } = opts;
    const now = opts.now ?? Date.now;
    const dir = await ensureDir(config.queue.dir, DIR);
    const suppressions = await SuppressionList.open(dir, now());
    const ledger = await FeedbackLedger.open(dir, logger, now);
    const verpKey = config.feedback.verpDomain ? await loadVerpKey(dir, config.feedback.verpKeyFile) : undefined;
    const service = new ReputationService(dir, config, suppressions, ledger, verpKey, metrics, logger, now);
    await service.load();
    await service.applyConfig(config);
    metrics.observeReputation(() => service.samples());
    service.saveTimer = setInterval(() => service.periodic(), SAVE_INTERVAL_MS);
    service.saveTimer.unref();
    return service;
  }

  private periodic(): void {
    this.saveCounters().catch(() => undefined);
    this.suppressions.maintain(this.now()).catch((err: unknown) => {
      this.logger.error('suppression list not compacted', { error: describeError(err) });
    });
  }

  private state(domain: string): DomainState {
    let s = this.states.get(domain);
    if (!s) {
      s = { window: new RollingCounters(), breach: new RollingCounters(), pause: undefined, breaching: false };
      this.states.set(domain, s);
    }
    return s;
  }

  private async load(): Promise<void> {
    const counters = await this.readJson(COUNTERS_FILE);
    const state = await this.readJson(STATE_FILE);
    for (const domain of this.domains.keys()) {
      const c = (counters?.domains as Record<string, { window?: unknown; breach?: unknown }> | undefined)?.[domain];
      const s = this.state(domain);
      s.window = RollingCounters.fromRecords(c?.window);
      s.breach = RollingCounters.fromRecords(c?.breach);
      const pause = (state?.domains as Record<string, { pause?: { since?: unknown; reason?: unknown } }> | undefined)?.[domain]?.pause;
      if (pause && typeof pause.since === 'number' && typeof pause.reason === 'string') s.pause = { since: pause.since, reason: pause.reason };
    }
  }

  private async readJson(name: string): Promise<Record<string, unknown> | undefined> {
    const bytes = await readIfExists(join(this.dir, name));
    if (!bytes) return undefined;
    try {
      const value: unknown = JSON.parse(bytes.toString('utf8'));
      return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
    } catch (err) {
      this.logger.warn('reputation file unreadable, starting from empty', { file: name, error: describeError(err) });
      return undefined;
    }
  }

  // ---- SendGate ------------------------------------------------------------------------------

  /** Paused by a breach or by relay.yaml, new mail is refused alike (SMTP 451 4.7.1, HTTP 423). */
  pausedReason(domain: string): string | undefined {
    return this.pauseOf(domain)?.reason;
  }

  /** Suppressed for the whole domain, or (given the message's category) for that category. */
  isSuppressed(domain: string, recipient: string, category?: string): boolean {
    return this.suppressions.get(domain, recipient, this.now(), category) !== undefined;
  }

  /**
   * A one-click or mailto unsubscribe: the recipient gets no more of that category's mail (or
   * none of the domain's, for a domain-wide scope) until the suppression is deleted; unlike
   * bounces, it does not expire. Resolves once fsynced.
   */
  async unsubscribe(domain: string, category: string, recipient: string, via: string): Promise<void> {
    const now = this.now();
    await this.suppressions.add({
      domain,
      ...(category ? { category } : {}),
      recipient,
      reason: 'unsubscribe',
      detail: `one-click unsubscribe via ${via}`,
      since: now,
      expiresAt: now + UNSUBSCRIBE_EXPIRY_MS,
    });
    this.logger.info('recipient unsubscribed', { domain, category: category || undefined, via });
  }

  private pauseOf(domain: string): PauseInfo | undefined {
    const config = this.domains.get(domain);
    if (!config) return undefined;
    const p = this.states.get(domain)?.pause;
    if (p) return { ...p, source: 'reputation' };
    return config.paused ? { since: 0, reason: 'paused by configuration (domains[].paused)', source: 'config' } : undefined;
  }

  /** Every domain new mail and queued mail are held for, from either source. */
  pausedDomains(): string[] {
    return [...this.domains.keys()].filter((d) => this.pauseOf(d));
  }

  /** Called whenever pausedDomains() may have changed. */
  onPausedChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private pausedChanged(): void {
    for (const l of this.listeners) l();
  }

  // ---- events --------------------------------------------------------------------------------

  /** The delivery engine's per-recipient results (synchronous; suppression is written behind). */
  recordOutcome(event: RecipientOutcomeEvent): void {
    try {
      this.applyOutcome(event);
    } catch (err) {
      // the delivery already happened: a failure here must not make the engine retry it
      this.logger.error('delivery outcome not counted', { domain: event.domain, error: describeError(err) });
    }
  }

  private applyOutcome(event: RecipientOutcomeEvent): void {
    if (!this.domains.has(event.domain)) return;
    const now = this.now();
    if (event.status === 'delivered') this.count(event.domain, now, 'sent', 'delivered');
    else if (event.status === 'bounced') this.count(event.domain, now, 'sent', 'hardBounces');
    else if (event.status === 'deferred') this.count(event.domain, now, 'deferrals');
    if (event.status === 'bounced' && suppressesRecipient(event.enhancedStatus)) {
      this.suppress(event.domain, event.recipient, 'hard_bounce', event.reply, now).catch((err: unknown) => {
        this.logger.error('suppression not saved', { domain: event.domain, error: describeError(err) });
      });
    }
    this.evaluate(event.domain, now);
  }

  /**
   * A DSN reporting a permanent failure of mail already handed over, counted once per
   * recipient of a message (false when it already was); resolves once durable.
   */
  recordAsyncBounce(ref: SentRef, domain: string, recipient: string | undefined, status: string, detail: string): Promise<boolean> {
    return this.countOnce(ref, 'bounce', { domain, ...(recipient ? { recipient } : {}) }, async (now) => {
      this.count(domain, now, 'hardBounces');
      if (recipient && suppressesRecipient(status)) await this.suppress(domain, recipient, 'hard_bounce', `${status} ${detail}`.trim(), now);
    });
  }

  /** An ARF complaint, counted once per recipient of a message (false when it already was); resolves once durable. */
  recordComplaint(ref: SentRef, domain: string, recipient: string | undefined, feedbackType: string): Promise<boolean> {
    return this.countOnce(ref, 'complaint', { domain, ...(recipient ? { recipient } : {}) }, async (now) => {
      this.count(domain, now, 'complaints');
      this.metrics.complaints.inc({ domain });
      if (recipient) await this.suppress(domain, recipient, 'complaint', `feedback-type ${feedbackType}`, now);
    });
  }

  /**
   * The mark is made durable before anything is counted: a failure before it leaves nothing
   * counted, so the report answered 451 counts when it comes again; a failure after it
   * (suppression or counters not saved) cannot make a resent report count twice.
   */
  private async countOnce(ref: SentRef, kind: FeedbackKind, record: SentRecord, apply: (now: number) => Promise<void>): Promise<boolean> {
    if (this.ledger.counted(ref, kind)) return false;
    await this.ledger.markCounted(ref, kind, record);
    const now = this.now();
    await apply(now);
    this.evaluate(record.domain, now);
    await this.saveCounters();
    return true;
  }

  /** What the relay remembers of a recipient it sent a message to (within the reputation window). */
  sentTo(ref: SentRef): SentRecord | undefined {
    return this.ledger.get(ref);
  }

  /** Every remembered recipient of a message. */
  sentRecipients(queueId: string): Array<{ index: number; record: SentRecord }> {
    return this.ledger.recipientsOf(queueId);
  }

  /** The relay's own host name, as in the Received: and Message-ID: fields it writes. */
  get hostname(): string {
    return this.config.hostname;
  }

  private count(domain: string, now: number, ...kinds: CounterKind[]): void {
    const s = this.state(domain);
    for (const kind of kinds) {
      s.window.add(kind, now);
      s.breach.add(kind, now);
    }
  }

  private async suppress(domain: string, recipient: string, reason: SuppressionReason, detail: string, now: number): Promise<void> {
    await this.suppressions.add({ domain, recipient, reason, detail: detail.slice(0, 300), since: now, expiresAt: now + this.config.suppression.expiry });
    this.logger.info('recipient suppressed', { domain, to: recipient, reason });
  }

  /** Pauses the domain when a threshold is breached at enough volume (rates above the maximum, not at it). */
  private evaluate(domain: string, now: number): void {
    const config = this.domains.get(domain);
    const s = this.states.get(domain);
    if (!config || !s) return;
    const { maxBounceRate, maxComplaintRate, minVolume, pauseOnBreach } = config.reputation;
    const c = s.breach.sum(now, DAY_MS);
    const rates = ratesOf(c);
    const reasons: string[] = [];
    if (c.sent >= minVolume && c.sent > 0) {
      if (rates.bounceRate > maxBounceRate) {
        reasons.push(`bounce rate ${formatRate(rates.bounceRate)} above ${maxBounceRate} (${c.hardBounces} hard bounces of ${c.sent} sent)`);
      }
      if (rates.complaintRate > maxComplaintRate) {
        reasons.push(`complaint rate ${formatRate(rates.complaintRate)} above ${maxComplaintRate} (${c.complaints} complaints of ${c.delivered} delivered)`);
      }
    }
    const breaching = reasons.length > 0;
    if (breaching && !s.breaching) this.logger.warn('reputation threshold breached', { domain, reason: reasons.join('; '), pauseOnBreach });
    s.breaching = breaching;
    if (breaching && pauseOnBreach && !s.pause) {
      s.pause = { since: now, reason: reasons.join('; ') };
      this.logger.warn('sending domain paused', { domain, reason: s.pause.reason });
      // in memory at once; the file follows (errors are logged by serial())
      this.persistState().catch(() => undefined);
      this.pausedChanged();
    }
  }

  /**
   * Lifts a reputation pause (`POST /v1/domains/{domain}/resume`, or config resumeBefore).
   * Breaches are judged afresh from here on. False when the domain had no reputation pause.
   */
  async resume(domain: string, by: string): Promise<boolean> {
    const s = this.states.get(domain);
    if (!s?.pause) return false;
    const was = s.pause;
    s.pause = undefined;
    s.breach = new RollingCounters();
    s.breaching = false;
    this.logger.info('sending domain resumed', { domain, by, pausedSince: new Date(was.since).toISOString(), reason: was.reason });
    this.pausedChanged();
    await Promise.all([this.persistState(), this.saveCounters()]);
    return true;
  }

  /** A new relay.yaml: thresholds, config pauses, and `resumeBefore` lifting older reputation pauses. */
  async applyConfig(config: RelayConfig): Promise<void> {
    this.config = config;
    this.domains = new Map(config.domains.map((d) => [d.name, d]));
    for (const d of config.domains) {
      const pause = this.state(d.name).pause;
      if (pause && d.reputation.resumeBefore !== undefined && pause.since < d.reputation.resumeBefore) {
        await this.resume(d.name, 'config resumeBefore');
      }
    }
    this.pausedChanged();
  }

  // ---- queries -------------------------------------------------------------------------------

  has(domain: string): boolean {
    return this.domains.has(domain);
  }

  report(domain: string): DomainReputation | undefined {
    const config = this.domains.get(domain);
    if (!config) return undefined;
    const s = this.state(domain);
    const now = this.now();
    const window = (ms: number) => {
      const c = s.window.sum(now, ms);
      return { ...c, ...ratesOf(c) };
    };
    return { domain, paused: this.pauseOf(domain), thresholds: config.reputation, windows: { '1h': window(HOUR_MS), '24h': window(DAY_MS) } };
  }

  listSuppressions(domain: string): Suppression[] {
    return this.suppressions.list(domain, this.now());
  }

  removeSuppression(domain: string, recipient: string, category?: string): Promise<boolean> {
    return this.suppressions.remove(domain, recipient, this.now(), category);
  }

  /**
   * The envelope sender for one recipient of a message, when VERP is on. The delivery engine
   * asks this for every recipient it hands a message to (VERP or not), so this is also where
   * the relay notes what it sent, for feedback to be checked against.
   */
  returnPath(queueId: string, index: number, domain: string, recipient: string): string | undefined {
    const { verpDomain, complaintAddress } = this.config.feedback;
    // without a feedback address no report can arrive, so nothing needs remembering
    if ((verpDomain || complaintAddress) && index >= 0 && this.domains.has(domain)) this.ledger.recordSent(queueId, index, domain, recipient);
    if (!verpDomain || !this.verpKey) return undefined;
    return buildVerpAddress(this.verpKey, verpDomain, queueId, index, domain, recipient);
  }

  private samples() {
    const now = this.now();
    return [...this.domains.keys()].map((domain) => ({
      domain,
      ...ratesOf(this.state(domain).window.sum(now, DAY_MS)),
      paused: this.pauseOf(domain) !== undefined,
    }));
  }

  // ---- persistence ---------------------------------------------------------------------------

  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.writes.then(work);
    this.writes = next.catch((err: unknown) => {
      this.logger.error('reputation state not saved', { error: describeError(err) });
    });
    return next;
  }

  private persistState(): Promise<void> {
    const domains: Record<string, { pause?: { since: number; reason: string } }> = {};
    for (const [name, s] of this.states) if (s.pause) domains[name] = { pause: s.pause };
    const text = JSON.stringify({ version: 1, domains });
    return this.serial(() => writeDurable(join(this.dir, STATE_FILE), text));
  }

  private saveCounters(): Promise<void> {
    const now = this.now();
    const domains: Record<string, unknown> = {};
    for (const [name, s] of this.states) domains[name] = { window: s.window.toRecords(now), breach: s.breach.toRecords(now) };
    const text = JSON.stringify({ version: 1, savedAt: now, domains });
    return this.serial(() => writeDurable(join(this.dir, COUNTERS_FILE), text));
  }

  async close(): Promise<void> {
    clearInterval(this.saveTimer);
    await this.saveCounters().catch(() => undefined);
    await this.writes;
    await this.suppressions.close();
    await this.ledger.close();
  }
}

/** The VERP HMAC key: the configured file, or one generated once and kept in the spool directory. */
async function loadVerpKey(dir: string, keyFile: string | undefined): Promise<Buffer> {
  if (keyFile) return loadVerpKeyFile(keyFile);
  const path = join(dir, KEY_FILE);
  const existing = await readIfExists(path);
  if (existing && existing.length >= 32) return existing;
  const key = Buffer.from(randomBytes(32).toString('hex'));
  await writeDurable(path, key, 0o600);
  return key;
}
