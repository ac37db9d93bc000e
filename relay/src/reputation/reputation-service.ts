import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { OTHER_CATEGORY, type DomainConfig, type RelayConfig } from '../config/schema.ts';
import { loadVerpKeyFile } from '../config/load-config.ts';
import { describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { OUTCOME_OF_COUNTER, type CategoryReputationSample, type DomainReputationSample, type RelayMetrics } from '../metrics/metrics.ts';
import { DAY_MS, RollingCounters, emptyCounts, ratesOf, type CounterKind, type Counts, type Rates } from './rolling-counters.ts';
import { SuppressionList, type Suppression, type SuppressionReason } from './suppression-list.ts';
import { ensureDir, readIfExists, writeDurable } from '../spool/durable-file.ts';
import { buildVerpAddress } from './verp.ts';
import { FeedbackLedger, type FeedbackKind, type SentRecord, type SentRef } from './feedback-ledger.ts';
import type { RecipientOutcomeEvent } from '../delivery/delivery-engine.ts';
import { decideBreach } from './decide-breach.ts';
import { categoryThresholds, countedCategories, countedCategory } from './counted-category.ts';

import type { SendGate } from './send-gate.ts';

export interface PauseInfo {
  readonly since: number;
  readonly reason: string;
  /**
   * `reputation`: a breach of this pod's own figures (lifted by resume); `relay-wide`: a breach
   * the operator decided on the sums of every pod (lifted by resume, on any pod); `config`:
   * domains[].paused, or the operator's push of it ahead of the mounted file.
   */
  readonly source: 'reputation' | 'relay-wide' | 'config';
}

interface Pause {
  readonly since: number;
  readonly reason: string;
}

/** Counters and pause of a sending domain, or of one of its categories. */
interface CounterState {
  /** The last 24 h, for metrics and the API. */
  window: RollingCounters;
  /** Since the last resume: what breaches are judged on, so a resumed domain starts clean. */
  breach: RollingCounters;
  pause: Pause | undefined;
  relayWide: Pause | undefined;
  /** When the domain was last resumed (any source), 0 for never; persisted. */
  resumedAt: number;
  breaching: boolean;
  /** The operator's push of domains[].paused, until the mounted relay.yaml says the same. */
  configPaused: boolean | undefined;
  /** The 24 h sums over every pod, as the operator last pushed them. */
  relay: { at: number; counts: Counts } | undefined;
}

interface DomainState extends CounterState {
  /** By counted category (countedCategory): made when first counted or loaded. */
  categories: Map<string, CounterState>;
}

export interface CategoryReputation {
  readonly thresholds: ReturnType<typeof categoryThresholds>;
  readonly windows: DomainReputation['windows'];
  readonly paused: { readonly since: number; readonly reason: string } | undefined;
}

export interface DomainReputation {
  readonly domain: string;
  readonly paused: PauseInfo | undefined;
  /** Every pause in force, this pod's own first. */
  readonly pauses: readonly PauseInfo[];
  readonly resumedAt: number | undefined;
  readonly thresholds: DomainConfig['reputation'];
  /** This pod's own windows. */
  readonly windows: { readonly '1h': Counts & Rates; readonly '24h': Counts & Rates };
  /** Each declared category and `other`. */
  readonly categories: Readonly<Record<string, CategoryReputation>>;
  /** The relay-wide 24 h window (every pod), when the operator has pushed it. */
  readonly relay: { readonly at: number; readonly '24h': Counts & Rates } | undefined;
}

function newCounterState(): CounterState {
  return {
    window: new RollingCounters(),
    breach: new RollingCounters(),
    pause: undefined,
    relayWide: undefined,
    resumedAt: 0,
    breaching: false,
    configPaused: undefined,
    relay: undefined,
  };
}

/** What the operator's relay-wide push of a domain's pause and resume did. */
export type RelayWideOutcome = 'changed' | 'unchanged' | 'resumed_since';

/** The longest the operator may claim the breach decision for, per push. */
export const MAX_OPERATOR_LEASE_MS = 600_000;


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

function savedPause(value: unknown): Pause | undefined {
  const p = value as { since?: unknown; reason?: unknown } | undefined;
  return p && typeof p.since === 'number' && typeof p.reason === 'string' ? { since: p.since, reason: p.reason } : undefined;
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
  /** Until when the operator decides breaches on the sums of every pod (its last push's lease). */
  private operatorUntil = 0;
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
    metrics.observeCategories(() => service.categorySamples());
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
      s = { ...newCounterState(), categories: new Map() };
      this.states.set(domain, s);
    }
    return s;
  }

  private categoryState(domain: string, category: string): CounterState {
    const categories = this.state(domain).categories;
    let c = categories.get(category);
    if (!c) {
      c = newCounterState();
      categories.set(category, c);
    }
    return c;
  }

  private async load(): Promise<void> {
    const counters = await this.readJson(COUNTERS_FILE);
    const state = await this.readJson(STATE_FILE);
    type Saved = { window?: unknown; breach?: unknown; pause?: unknown; relayWide?: unknown; resumedAt?: unknown; categories?: Record<string, Saved> };
    for (const [domain, config] of this.domains) {
      const c = (counters?.domains as Record<string, Saved> | undefined)?.[domain];
      const saved = (state?.domains as Record<string, Saved> | undefined)?.[domain];
      const s = this.state(domain);
      s.window = RollingCounters.fromRecords(c?.window);
      s.breach = RollingCounters.fromRecords(c?.breach);
      s.pause = savedPause(saved?.pause);
      s.relayWide = savedPause(saved?.relayWide);
      if (typeof saved?.resumedAt === 'number' && Number.isFinite(saved.resumedAt)) s.resumedAt = saved.resumedAt;
      // only the categories counted now: one no longer declared is counted as `other` from here on,
      // and a domain that declares none has no category pauses (its own pause is the same thing)
      for (const category of countedCategories(config)) {
        const cc = c?.categories?.[category];
        const pause = config.categories.length > 0 ? savedPause(saved?.categories?.[category]?.pause) : undefined;
        if (!cc && !pause) continue;
        const cs = this.categoryState(domain, category);
        cs.window = RollingCounters.fromRecords(cc?.window);
        cs.breach = RollingCounters.fromRecords(cc?.breach);
        cs.pause = pause;
      }
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

  /** A category's reputation pause refuses its new mail and holds its queued mail; other categories flow. */
  categoryPausedReason(domain: string, category: string | undefined): { category: string; reason: string } | undefined {
    const config = this.domains.get(domain);
    if (!config) return undefined;
    const counted = countedCategory(config, category);
    const pause = this.states.get(domain)?.categories.get(counted)?.pause;
    return pause ? { category: counted, reason: pause.reason } : undefined;
  }

  private pauseOf(domain: string): PauseInfo | undefined {
    return this.pausesOf(domain)[0];
  }

  private pausesOf(domain: string): PauseInfo[] {
    const config = this.domains.get(domain);
    if (!config) return [];
    const s = this.states.get(domain);
    const out: PauseInfo[] = [];
    if (s?.pause) out.push({ ...s.pause, source: 'reputation' });
    if (s?.relayWide) out.push({ ...s.relayWide, source: 'relay-wide' });
    if (s?.configPaused ?? config.paused) out.push({ since: 0, reason: 'paused by configuration (domains[].paused)', source: 'config' });
    return out;
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
    const { category } = event;
    if (event.status === 'delivered') this.count(event.domain, category, now, 'sent', 'delivered');
    else if (event.status === 'bounced') this.count(event.domain, category, now, 'sent', 'hardBounces');
    else if (event.status === 'deferred') this.count(event.domain, category, now, 'deferrals');
    if (event.status === 'bounced' && suppressesRecipient(event.enhancedStatus)) {
      this.suppress(event.domain, event.recipient, 'hard_bounce', event.reply, now).catch((err: unknown) => {
        this.logger.error('suppression not saved', { domain: event.domain, error: describeError(err) });
      });
    }
    this.evaluate(event.domain, category, now);
  }

  /**
   * A DSN reporting a permanent failure of mail already handed over, counted once per
   * recipient of a message (false when it already was); resolves once durable.
   */
  recordAsyncBounce(ref: SentRef, domain: string, recipient: string | undefined, status: string, detail: string): Promise<boolean> {
    return this.countOnce(ref, 'bounce', { domain, ...(recipient ? { recipient } : {}) }, async (now, category) => {
      this.count(domain, category, now, 'hardBounces');
      if (recipient && suppressesRecipient(status)) await this.suppress(domain, recipient, 'hard_bounce', `${status} ${detail}`.trim(), now);
    });
  }

  /** An ARF complaint, counted once per recipient of a message (false when it already was); resolves once durable. */
  recordComplaint(ref: SentRef, domain: string, recipient: string | undefined, feedbackType: string): Promise<boolean> {
    return this.countOnce(ref, 'complaint', { domain, ...(recipient ? { recipient } : {}) }, async (now, category) => {
      this.count(domain, category, now, 'complaints');
      this.metrics.complaints.inc({ domain });
      if (recipient) await this.suppress(domain, recipient, 'complaint', `feedback-type ${feedbackType}`, now);
    });
  }

  /**
   * The mark is made durable before anything is counted: a failure before it leaves nothing
   * counted, so the report answered 451 counts when it comes again; a failure after it
   * (suppression or counters not saved) cannot make a resent report count twice.
   */
  private async countOnce(ref: SentRef, kind: FeedbackKind, record: SentRecord, apply: (now: number, category: string | undefined) => Promise<void>): Promise<boolean> {
    if (this.ledger.counted(ref, kind)) return false;
    // the category of the message reported on, as the ledger noted it at delivery
    const category = (this.ledger.get(ref) ?? this.ledger.recipientsOf(ref.queueId)[0]?.record)?.category;
    await this.ledger.markCounted(ref, kind, record);
    const now = this.now();
    await apply(now, category);
    this.evaluate(record.domain, category, now);
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

  private count(domain: string, category: string | undefined, now: number, ...kinds: CounterKind[]): void {
    const s = this.state(domain);
    // a report about a domain removed from the config since still counts, as `other`
    const config = this.domains.get(domain);
    const counted = config ? countedCategory(config, category) : OTHER_CATEGORY;
    const c = this.categoryState(domain, counted);
    for (const kind of kinds) {
      for (const target of [s, c]) {
        target.window.add(kind, now);
        target.breach.add(kind, now);
      }
      this.metrics.categoryMessages.inc({ domain, category: counted, outcome: OUTCOME_OF_COUNTER[kind] });
    }
  }

  private async suppress(domain: string, recipient: string, reason: SuppressionReason, detail: string, now: number): Promise<void> {
    await this.suppressions.add({ domain, recipient, reason, detail: detail.slice(0, 300), since: now, expiresAt: now + this.config.suppression.expiry });
    this.logger.info('recipient suppressed', { domain, to: recipient, reason });
  }

  /**
   * Pauses the domain when its thresholds are breached at enough volume, and the message's
   * category when the category's are (its own, or the domain's when it has none).
   */
  private evaluate(domain: string, category: string | undefined, now: number): void {
    const config = this.domains.get(domain);
    const s = this.states.get(domain);
    if (!config || !s) return;
    // without declared categories, `other` is all of the domain's mail: the domain's pause is enough
    if (config.categories.length > 0) this.evaluateCategory(domain, countedCategory(config, category), now);
    const { pauseOnBreach } = config.reputation;
    const reasons = decideBreach(s.breach.sum(now, DAY_MS), config.reputation);
    const breaching = reasons.length > 0;
    // While the operator holds a lease it judges the sums of every pod, not this pod alone.
    const operatorJudges = now < this.operatorUntil;
    if (breaching && !s.breaching) this.logger.warn('reputation threshold breached', { domain, reason: reasons.join('; '), pauseOnBreach, operatorJudges });
    s.breaching = breaching;
    if (breaching && pauseOnBreach && !s.pause && !s.relayWide && !operatorJudges) {
      s.pause = { since: now, reason: reasons.join('; ') };
      this.logger.warn('sending domain paused', { domain, reason: s.pause.reason });
      // in memory at once; the file follows (errors are logged by serial())
      this.persistState().catch(() => undefined);
      this.pausedChanged();
    }
  }

  private evaluateCategory(domain: string, category: string, now: number): void {
    const s = this.states.get(domain)?.categories.get(category);
    if (!s) return;
    const thresholds = categoryThresholds(this.domains.get(domain)!, category);
    const reasons = decideBreach(s.breach.sum(now, DAY_MS), thresholds);
    const breaching = reasons.length > 0;
    if (breaching && !s.breaching) this.logger.warn('category reputation threshold breached', { domain, category, reason: reasons.join('; '), pauseOnBreach: thresholds.pauseOnBreach });
    s.breaching = breaching;
    if (breaching && thresholds.pauseOnBreach && !s.pause) {
      s.pause = { since: now, reason: reasons.join('; ') };
      this.logger.warn('category paused', { domain, category, reason: s.pause.reason });
      this.persistState().catch(() => undefined);
      this.pausedChanged();
    }
  }

  /**
   * Lifts a category's reputation pause (`POST /v1/domains/{domain}/categories/{category}/resume`,
   * or the domain's config resumeBefore); its breaches are judged afresh. False when it had none.
   */
  async resumeCategory(domain: string, category: string, by: string): Promise<boolean> {
    const s = this.states.get(domain)?.categories.get(category);
    if (!s?.pause) return false;
    const was = s.pause;
    s.pause = undefined;
    s.breach = new RollingCounters();
    s.breaching = false;
    this.logger.info('category resumed', { domain, category, by, pausedSince: new Date(was.since).toISOString(), reason: was.reason });
    this.pausedChanged();
    await Promise.all([this.persistState(), this.saveCounters()]);
    return true;
  }

  /**
   * Lifts the reputation pauses, this pod's own and the relay-wide one (`POST
   * /v1/domains/{domain}/resume` of the HTTP or admin API, or config resumeBefore), and those of
   * the domain's categories (a resumed domain sends everything again), and notes when, so that
   * the operator carries the resume to every other pod. Breaches are judged afresh from here on.
   * `before`: the operator carrying another pod's resume here, which lifts only the pauses that
   * began before it. False when no reputation pause was lifted.
   */
  async resume(domain: string, by: string, before?: number): Promise<boolean> {
    if (!this.domains.has(domain)) return false;
    const s = this.state(domain);
    let categories = false;
    for (const category of s.categories.keys()) categories = (await this.resumeCategory(domain, category, by)) || categories;
    const cutoff = before ?? Infinity;
    const lifted = [s.pause, s.relayWide].filter((p): p is Pause => p !== undefined && p.since < cutoff);
    if (s.pause && s.pause.since < cutoff) s.pause = undefined;
    if (s.relayWide && s.relayWide.since < cutoff) s.relayWide = undefined;
    // after every pause it lifted, whatever this pod's clock says: the operator orders the two
    const resumedAt = Math.max(before ?? this.now(), s.resumedAt, ...lifted.map((p) => p.since + 1));
    if (resumedAt === s.resumedAt && lifted.length === 0) return categories;
    s.resumedAt = resumedAt;
    s.breach = new RollingCounters();
    s.breaching = false;
    for (const was of lifted) this.logger.info('sending domain resumed', { domain, by, pausedSince: new Date(was.since).toISOString(), reason: was.reason });
    if (lifted.length > 0) this.pausedChanged();
    await Promise.all([this.persistState(), this.saveCounters()]);
    return lifted.length > 0 || categories;
  }

  /**
   * A pause the operator decided on the sums of every pod (`POST /v1/domains/{domain}/pause`
   * of the admin API). Idempotent: the same pause again changes nothing. A pause older than
   * this pod's last resume is refused (`resumed_since`): the operator sees the resume at its
   * next poll and carries it to the other pods instead.
   */
  async pauseRelayWide(domain: string, pause: { reason: string; since: number | undefined }): Promise<RelayWideOutcome> {
    const s = this.state(domain);
    const since = pause.since ?? Math.max(this.now(), s.resumedAt + 1);
    if (since <= s.resumedAt) return 'resumed_since';
    if (s.relayWide?.since === since) return 'unchanged';
    s.relayWide = { since, reason: pause.reason };
    this.logger.warn('sending domain paused relay-wide', { domain, reason: pause.reason });
    this.pausedChanged();
    await this.persistState();
    return 'changed';
  }

  /**
   * The operator's push of domains[].paused (SendingDomain spec.paused) ahead of the mounted
   * relay.yaml, which the kubelet updates up to a minute later. Kept in memory until the file
   * says the same: a restarted pod mounts the current file.
   */
  setConfigPaused(domain: string, paused: boolean): boolean {
    const config = this.domains.get(domain);
    if (!config) return false;
    const s = this.state(domain);
    const before = s.configPaused ?? config.paused;
    s.configPaused = paused === config.paused ? undefined : paused;
    if (before !== paused) {
      this.logger.info(paused ? 'sending domain paused by the operator (spec.paused)' : 'sending domain unpaused by the operator (spec.paused)', { domain });
      this.pausedChanged();
    }
    return true;
  }

  /**
   * The 24 h sums over every pod, pushed by the operator with each poll, and a lease: until it
   * runs out the operator decides breaches on those sums, and this pod does not pause on its
   * own figures. Domains not named keep their last push.
   */
  setRelayFigures(at: number, leaseMs: number, domains: ReadonlyMap<string, Counts>): void {
    this.operatorUntil = this.now() + Math.min(Math.max(leaseMs, 0), MAX_OPERATOR_LEASE_MS);
    for (const [domain, counts] of domains) if (this.domains.has(domain)) this.state(domain).relay = { at, counts };
  }

  /** A new relay.yaml: thresholds, config pauses, and `resumeBefore` lifting older reputation pauses. */
  async applyConfig(config: RelayConfig): Promise<void> {
    this.config = config;
    this.domains = new Map(config.domains.map((d) => [d.name, d]));
    for (const d of config.domains) {
      const s = this.state(d.name);
      // the mounted file caught up with the operator's push
      if (s.configPaused === d.paused) s.configPaused = undefined;
      const older = [s.pause, s.relayWide].some((p) => p && d.reputation.resumeBefore !== undefined && p.since < d.reputation.resumeBefore);
      // every pause in force began by now: a resumeBefore in the future means now
      if (older) await this.resume(d.name, 'config resumeBefore', Math.min(d.reputation.resumeBefore!, this.now()));
      const { resumeBefore } = d.reputation;
      if (resumeBefore !== undefined) {
        for (const [category, c] of s.categories) {
          if (c.pause && c.pause.since < resumeBefore) await this.resumeCategory(d.name, category, 'config resumeBefore');
        }
      }
    }
    this.pausedChanged();
  }

  // ---- queries -------------------------------------------------------------------------------

  domainNames(): string[] {
    return [...this.domains.keys()];
  }

  has(domain: string): boolean {
    return this.domains.has(domain);
  }

  report(domain: string): DomainReputation | undefined {
    const config = this.domains.get(domain);
    if (!config) return undefined;
    const s = this.state(domain);
    const now = this.now();
    const windows = (counters: RollingCounters | undefined) => {
      const window = (ms: number) => {
        const c = counters ? counters.sum(now, ms) : emptyCounts();
        return { ...c, ...ratesOf(c) };
      };
      return { '1h': window(HOUR_MS), '24h': window(DAY_MS) };
    };
    const categories: Record<string, CategoryReputation> = {};
    for (const category of countedCategories(config)) {
      const c = s.categories.get(category);
      categories[category] = { thresholds: categoryThresholds(config, category), windows: windows(c?.window), paused: c?.pause };
    }
    const pauses = this.pausesOf(domain);
    return {
      domain,
      paused: pauses[0],
      pauses,
      resumedAt: s.resumedAt > 0 ? s.resumedAt : undefined,
      thresholds: config.reputation,
      windows: windows(s.window),
      categories,
      relay: s.relay ? { at: s.relay.at, '24h': { ...s.relay.counts, ...ratesOf(s.relay.counts) } } : undefined,
    };
  }

  /** Whether the API knows this category of the domain (declared, or `other`). */
  hasCategory(domain: string, category: string): boolean {
    const config = this.domains.get(domain);
    return config !== undefined && countedCategories(config).includes(category);
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
  returnPath(queueId: string, index: number, domain: string, recipient: string, category?: string): string | undefined {
    const { verpDomain, complaintAddress } = this.config.feedback;
    // without a feedback address no report can arrive, so nothing needs remembering
    if ((verpDomain || complaintAddress) && index >= 0 && this.domains.has(domain)) this.ledger.recordSent(queueId, index, domain, recipient, category);
    if (!verpDomain || !this.verpKey) return undefined;
    return buildVerpAddress(this.verpKey, verpDomain, queueId, index, domain, recipient);
  }

  private samples(): DomainReputationSample[] {
    const now = this.now();
    return [...this.domains.keys()].map((domain) => {
      const s = this.state(domain);
      const window = s.window.sum(now, DAY_MS);
      return {
        domain,
        ...ratesOf(window),
        paused: this.pauseOf(domain) !== undefined,
        window,
        breach: s.breach.sum(now, DAY_MS),
        relayWideSince: s.relayWide?.since,
        resumedAt: s.resumedAt,
      };
    });
  }

  private categorySamples(): CategoryReputationSample[] {
    const now = this.now();
    return [...this.domains].flatMap(([domain, config]) =>
      countedCategories(config).map((category) => {
        const c = this.states.get(domain)?.categories.get(category);
        const window = c ? c.window.sum(now, DAY_MS) : emptyCounts();
        return { domain, category, ...ratesOf(window), paused: c?.pause !== undefined, window };
      }),
    );
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
    type Saved = { pause?: Pause; relayWide?: Pause; resumedAt?: number; categories?: Record<string, { pause: Pause }> };
    const domains: Record<string, Saved> = {};
    for (const [name, s] of this.states) {
      const categories = Object.fromEntries([...s.categories].flatMap(([c, cs]) => (cs.pause ? [[c, { pause: cs.pause }]] : [])));
      const saved: Saved = {
        ...(s.pause ? { pause: s.pause } : {}),
        ...(s.relayWide ? { relayWide: s.relayWide } : {}),
        ...(s.resumedAt > 0 ? { resumedAt: s.resumedAt } : {}),
        ...(Object.keys(categories).length > 0 ? { categories } : {}),
      };
      if (Object.keys(saved).length > 0) domains[name] = saved;
    }
    const text = JSON.stringify({ version: 1, domains });
    return this.serial(() => writeDurable(join(this.dir, STATE_FILE), text));
  }

  private saveCounters(): Promise<void> {
    const now = this.now();
    const domains: Record<string, unknown> = {};
    for (const [name, s] of this.states) {
      const categories = Object.fromEntries([...s.categories].map(([c, cs]) => [c, { window: cs.window.toRecords(now), breach: cs.breach.toRecords(now) }]));
      domains[name] = { window: s.window.toRecords(now), breach: s.breach.toRecords(now), categories };
    }
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
