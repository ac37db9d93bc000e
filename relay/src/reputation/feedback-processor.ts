import type { FeedbackConfig } from '../config/schema.ts';
import { domainOf } from '../mail-address.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import { describeError, SmtpReplyError } from '../errors.ts';
import type { SentRef } from './feedback-ledger.ts';
import { parseReportMessage, UnreadableReportError } from './mime.ts';
import { complainantCandidates, originalQueueId, parseArf, returnPathsOf, type ArfReport } from './parse-arf.ts';
import { isHardBounce, parseDsn, type Dsn } from './parse-dsn.ts';
import { ReportRateLimit } from './report-rate-limit.ts';
import { clientKey } from '../smtp/client-limits.ts';
import type { ReputationService } from './reputation-service.ts';
import { parseVerpAddress, verifyVerpDomain, verifyVerpRecipient, type VerpParts } from './verp.ts';
import type { EventSink } from '../events/event-types.ts';
import { buildBouncedEvent, buildComplainedEvent } from '../events/build-events.ts';

/** What the SMTP intake needs: which recipients are feedback addresses, and where their mail goes. */
export interface FeedbackIntake {
  isFeedbackAddress(address: string): boolean;
  /**
   * Takes in one message sent to feedback addresses; resolves once its effects are durable.
   * `log.remoteAddress` is the client's address, which the intake rate-limits by.
   */
  consume(message: Buffer, recipients: readonly string[], log: Record<string, unknown>): Promise<void>;
}

export interface FeedbackLimits {
  /** Reports per minute from one client address (and at once, as a burst). */
  readonly perClientPerMinute: number;
  /** Reports per minute attributed to one sending domain. */
  readonly perDomainPerMinute: number;
}

/**
 * Generous for a provider's feedback loop (a few a second from one address), small beside
 * what one attacker's connection can send.
 */
export const DEFAULT_FEEDBACK_LIMITS: FeedbackLimits = { perClientPerMinute: 120, perDomainPerMinute: 1200 };

/**
 * An ARF report is a complaint wherever it arrives; a DSN counts only at a VERP address.
 * Throws UnreadableReportError past the parser's limits.
 */
async function readReport(message: Buffer, atVerpAddress: boolean): Promise<{ arf?: ArfReport; dsn?: Dsn }> {
  const parsed = await parseReportMessage(message);
  const arf = await parseArf(parsed);
  if (arf) return { arf };
  const dsn = atVerpAddress ? await parseDsn(parsed) : undefined;
  return dsn ? { dsn } : {};
}

/**
 * Whom to suppress: the recipient the relay itself sent to, when the report names it or
 * names nobody (providers redact); never an address only the report names.
 */
export function decideRecipient(recorded: string | undefined, named: readonly string[]): string | undefined {
  if (!recorded) return undefined;
  return named.length === 0 || named.includes(recorded) ? recorded : undefined;
}

interface Attribution {
  readonly ref: SentRef;
  readonly domain: string;
  readonly recipient: string | undefined;
}

/**
 * Consumes mail sent to the VERP domain and the complaint address: DSNs (RFC 3464) become hard
 * bounces and ARF reports (RFC 5965) complaints. Anyone can send these without AUTH, so a
 * report counts only for a message the relay sent: one with a signed VERP return path
 * (HMAC-checked), or whose attached original carries a queue id (in the relay's own Received:)
 * that the feedback ledger remembers. Each counts once per recipient of a message,
 * across restarts, and the recipient suppressed is the one the relay sent to. Anything else
 * there (auto-replies, spam, forgeries, unreadable or replayed reports) is accepted and dropped.
 */
export class FeedbackProcessor implements FeedbackIntake {
  private readonly perClient: ReportRateLimit;
  private readonly perDomain: ReportRateLimit;
  /** complained and (DSN) bounced events, on disk before the report is acknowledged. */
  events: EventSink | undefined;

  constructor(
    private readonly config: FeedbackConfig,
    private readonly reputation: ReputationService,
    private readonly domains: () => readonly string[],
    private readonly metrics: RelayMetrics,
    private readonly logger: Logger,
    limits: FeedbackLimits = DEFAULT_FEEDBACK_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.perClient = new ReportRateLimit({ perMinute: limits.perClientPerMinute, burst: limits.perClientPerMinute, maxKeys: 10_000 }, now);
    this.perDomain = new ReportRateLimit({ perMinute: limits.perDomainPerMinute, burst: limits.perDomainPerMinute, maxKeys: 1_000 }, now);
  }

  static enabled(config: FeedbackConfig): boolean {
    return Boolean(config.verpDomain || config.complaintAddress);
  }

  isFeedbackAddress(address: string): boolean {
    const lower = address.toLowerCase();
    if (this.config.complaintAddress && lower === this.config.complaintAddress) return true;
    return this.config.verpDomain !== undefined && domainOf(lower) === this.config.verpDomain;
  }

  async consume(message: Buffer, recipients: readonly string[], log: Record<string, unknown>): Promise<void> {
    const toComplaints = recipients.some((r) => r.toLowerCase() === this.config.complaintAddress);
    const kind = toComplaints ? 'arf' : 'dsn';
    // an IPv6 client has its whole /64 to send from: one budget for it, as for the SMTP limits
    const client = typeof log.remoteAddress === 'string' ? clientKey(log.remoteAddress) : 'unknown';
    if (!this.perClient.take(client)) {
      this.note(kind, 'rate_limited', log);
      throw rateLimited('from your address');
    }
    const verpRecipients = recipients.filter((r) => this.config.verpDomain && domainOf(r) === this.config.verpDomain);
    let report: { arf?: ArfReport; dsn?: Dsn };
    try {
      report = await readReport(message, verpRecipients.length > 0);
    } catch (err) {
      if (!(err instanceof UnreadableReportError)) throw err;
      // past the parser's limits: no real report is, so it is dropped like any other non-report
      this.note(kind, 'unreadable', log, { error: describeError(err.cause) });
      return;
    }
    if (report.arf) {
      await this.complaint(report.arf, log);
      return;
    }
    if (report.dsn) {
      for (const r of verpRecipients) await this.bounce(r, report.dsn, log);
      return;
    }
    this.note(kind, 'not_a_report', log);
  }

  private note(kind: 'dsn' | 'arf', result: string, log: Record<string, unknown>, fields: Record<string, unknown> = {}): void {
    this.metrics.feedbackReports.inc({ kind, result });
    this.logger.info(`feedback ${kind} ${result.replace(/_/g, ' ')}`, { ...log, ...fields });
  }

  private takeDomain(kind: 'dsn' | 'arf', domain: string, log: Record<string, unknown>): void {
    if (this.perDomain.take(domain)) return;
    this.note(kind, 'rate_limited', log, { domain });
    throw rateLimited('for this domain');
  }

  private verp(address: string): { parts: VerpParts; domain: string } | undefined {
    const key = this.reputation.verpKey;
    const verpDomain = this.config.verpDomain;
    if (!key || !verpDomain) return undefined;
    const parts = parseVerpAddress(address, verpDomain);
    const domain = parts ? verifyVerpDomain(key, parts, this.domains()) : undefined;
    return parts && domain ? { parts, domain } : undefined;
  }

  /** A signed VERP address: the ledger's recipient, or (forgotten) the one its recipient tag confirms. */
  private byVerp(verp: { parts: VerpParts; domain: string }, named: readonly string[]): Attribution {
    const ref = { queueId: verp.parts.queueId, index: verp.parts.index };
    const sent = this.reputation.sentTo(ref);
    const recipient =
      sent?.domain === verp.domain && sent.recipient
        ? decideRecipient(sent.recipient, named)
        : verifyVerpRecipient(this.reputation.verpKey!, verp.parts, named);
    return { ref, domain: verp.domain, recipient };
  }

  /** The queue id of ours in the attached original, for a message the ledger remembers. */
  private byQueueId(arf: ArfReport, named: readonly string[]): Attribution | undefined {
    const queueId = originalQueueId(arf, this.reputation.hostname);
    const sent = queueId ? this.reputation.sentRecipients(queueId) : [];
    const domain = sent[0]?.record.domain;
    if (!queueId || !domain) return undefined;
    // one transaction may have carried several recipients: only one named (or the only one) is known
    const only = sent.length === 1 ? sent[0] : undefined;
    const match = only ?? sent.find((s) => s.record.recipient !== undefined && named.includes(s.record.recipient));
    const recipient = match ? decideRecipient(match.record.recipient, named) : undefined;
    return { ref: { queueId, index: match && recipient ? match.index : '*' }, domain, recipient };
  }

  private async bounce(address: string, dsn: Dsn, log: Record<string, unknown>): Promise<void> {
    const verp = this.verp(address);
    if (!verp) {
      this.note('dsn', 'forged', log, { to: address });
      return;
    }
    const failed = dsn.recipients.find(isHardBounce);
    if (!failed) {
      this.note('dsn', 'not_a_failure', log, { domain: verp.domain, statuses: dsn.recipients.map((r) => `${r.action} ${r.status}`) });
      return;
    }
    const named = [failed.originalRecipient, failed.finalRecipient].filter((a): a is string => a !== undefined);
    const { ref, domain, recipient } = this.byVerp(verp, named);
    this.takeDomain('dsn', domain, log);
    const counted = await this.reputation.recordAsyncBounce(ref, domain, recipient, failed.status, failed.diagnostic ?? '');
    const original = verp.parts.queueId.toUpperCase();
    if (counted && recipient && this.events) {
      const facts = { queueId: original, domain };
      const input = { recipient, attempt: 0, reply: failed.diagnostic ?? '', time: this.now(), status: failed.status, dsnSent: false, source: 'dsn' as const };
      await this.events.emit([{ event: buildBouncedEvent(facts, input) }]);
    }
    if (!counted) this.note('dsn', 'duplicate', log, { domain, original });
    else this.note('dsn', 'counted', log, { domain, to: recipient, status: failed.status, original });
  }

  private async complaint(arf: ArfReport, log: Record<string, unknown>): Promise<void> {
    const named = complainantCandidates(arf);
    const verp = returnPathsOf(arf)
      .map((a) => this.verp(a))
      .find((v) => v !== undefined);
    const attribution = verp ? this.byVerp(verp, named) : this.byQueueId(arf, named);
    if (!attribution) {
      this.note('arf', 'unattributed', log, { feedbackType: arf.feedbackType });
      return;
    }
    const { ref, domain, recipient } = attribution;
    if (arf.feedbackType === 'not-spam') {
      this.note('arf', 'not_a_complaint', log, { domain });
      return;
    }
    this.takeDomain('arf', domain, log);
    const counted = await this.reputation.recordComplaint(ref, domain, recipient, arf.feedbackType || 'abuse');
    const original = ref.queueId.toUpperCase();
    if (counted && this.events) {
      const input = { recipient: recipient ?? null, feedbackType: arf.feedbackType || 'abuse', ...(arf.userAgent ? { userAgent: arf.userAgent } : {}), time: this.now() };
      await this.events.emit([{ event: buildComplainedEvent({ queueId: original, domain }, input) }]);
    }
    if (!counted) this.note('arf', 'duplicate', log, { domain, original });
    else this.note('arf', 'counted', log, { domain, to: recipient, feedbackType: arf.feedbackType, userAgent: arf.userAgent, original });
  }
}

function rateLimited(scope: string): SmtpReplyError {
  return new SmtpReplyError(451, '4.7.1', `Too many reports ${scope}, try again later`, 'feedback_rate_limited');
}
