import type { FeedbackConfig } from '../config/schema.ts';
import { domainOf, matchDomain } from '../mail-address.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import { describeError } from '../errors.ts';
import { parseReportMessage, UnreadableReportError } from './mime.ts';
import { complainantCandidates, originalFromDomain, parseArf, returnPathsOf, type ArfReport } from './parse-arf.ts';
import { isHardBounce, parseDsn, type Dsn } from './parse-dsn.ts';
import type { ReputationService } from './reputation-service.ts';
import { parseVerpAddress, verifyVerpDomain, verifyVerpRecipient, type VerpParts } from './verp.ts';

/** What the SMTP intake needs: which recipients are feedback addresses, and where their mail goes. */
export interface FeedbackIntake {
  isFeedbackAddress(address: string): boolean;
  /** Takes in one message sent to feedback addresses; resolves once its effects are durable. */
  consume(message: Buffer, recipients: readonly string[], log: Record<string, unknown>): Promise<void>;
}

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

/** Recent (queue id, index) pairs already counted, so a DSN sent twice counts once. */
const SEEN_LIMIT = 10_000;

/**
 * Consumes mail sent to the VERP domain and the complaint address: DSNs (RFC 3464) become hard
 * bounces and ARF reports (RFC 5965) complaints, attributed to a sending domain and recipient
 * through the VERP address (HMAC-checked) or, without VERP, the attached original's headers.
 * Anything else there (auto-replies, spam, forged addresses) is accepted and dropped.
 */
export class FeedbackProcessor implements FeedbackIntake {
  private readonly seen = new Set<string>();

  constructor(
    private readonly config: FeedbackConfig,
    private readonly reputation: ReputationService,
    private readonly domains: () => readonly string[],
    private readonly metrics: RelayMetrics,
    private readonly logger: Logger,
  ) {}

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
    const verpRecipients = recipients.filter((r) => this.config.verpDomain && domainOf(r) === this.config.verpDomain);
    let report: { arf?: ArfReport; dsn?: Dsn };
    try {
      report = await readReport(message, verpRecipients.length > 0);
    } catch (err) {
      if (!(err instanceof UnreadableReportError)) throw err;
      // past the parser's limits: no real report is, so it is dropped like any other non-report
      this.note(toComplaints ? 'arf' : 'dsn', 'unreadable', log, { error: describeError(err.cause) });
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
    this.note(toComplaints ? 'arf' : 'dsn', 'not_a_report', log);
  }

  private note(kind: 'dsn' | 'arf', result: string, log: Record<string, unknown>, fields: Record<string, unknown> = {}): void {
    this.metrics.feedbackReports.inc({ kind, result });
    this.logger.info(`feedback ${kind} ${result.replace(/_/g, ' ')}`, { ...log, ...fields });
  }

  private verp(address: string): { parts: VerpParts; domain: string } | undefined {
    const key = this.reputation.verpKey;
    const verpDomain = this.config.verpDomain;
    if (!key || !verpDomain) return undefined;
    const parts = parseVerpAddress(address, verpDomain);
    const domain = parts ? verifyVerpDomain(key, parts, this.domains()) : undefined;
    return parts && domain ? { parts, domain } : undefined;
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
    const seenKey = `${verp.parts.queueId}.${verp.parts.index}`;
    if (this.seen.has(seenKey)) {
      this.note('dsn', 'duplicate', log, { domain: verp.domain });
      return;
    }
    const candidates = [failed.originalRecipient, failed.finalRecipient].filter((a): a is string => a !== undefined);
    const recipient = verifyVerpRecipient(this.reputation.verpKey!, verp.parts, candidates);
    await this.reputation.recordAsyncBounce(verp.domain, recipient, failed.status, failed.diagnostic ?? '');
    // only once it is recorded: a report answered 451 (disk trouble) must count when it is sent again
    this.remember(seenKey);
    this.note('dsn', 'counted', log, { domain: verp.domain, to: recipient, status: failed.status, original: verp.parts.queueId.toUpperCase() });
  }

  private async complaint(arf: ArfReport, log: Record<string, unknown>): Promise<void> {
    const verp = returnPathsOf(arf)
      .map((a) => this.verp(a))
      .find((v) => v !== undefined);
    let domain: string | undefined;
    let recipient: string | undefined;
    if (verp) {
      domain = verp.domain;
      recipient = verifyVerpRecipient(this.reputation.verpKey!, verp.parts, complainantCandidates(arf));
    } else if (!this.config.verpDomain) {
      // without VERP the attached original's From: is all there is; with VERP only signed return paths count
      const from = originalFromDomain(arf);
      domain = from ? matchDomain(from, this.domains()) : undefined;
      recipient = complainantCandidates(arf)[0];
    }
    if (!domain) {
      this.note('arf', 'unattributed', log, { feedbackType: arf.feedbackType });
      return;
    }
    if (arf.feedbackType === 'not-spam') {
      this.note('arf', 'not_a_complaint', log, { domain });
      return;
    }
    await this.reputation.recordComplaint(domain, recipient, arf.feedbackType || 'abuse');
    this.note('arf', 'counted', log, { domain, to: recipient, feedbackType: arf.feedbackType, userAgent: arf.userAgent });
  }

  private remember(key: string): void {
    if (this.seen.size >= SEEN_LIMIT) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(key);
  }
}
