import addressparser from 'nodemailer/lib/addressparser';
import { addressOfField, parseFieldBlocks, parseHeaderFields, parseReportMessage, type Fields, type ReportMessage } from './mime.ts';

/** An abuse report in the Abuse Reporting Format (RFC 5965). */
export interface ArfReport {
  /** abuse | fraud | virus | other | not-spam ..., lower case. */
  readonly feedbackType: string;
  readonly userAgent: string | undefined;
  /** Envelope sender of the reported message: our VERP return path when we used one. */
  readonly originalMailFrom: string | undefined;
  readonly originalRcptTo: readonly string[];
  /** Header fields of the attached original (message/rfc822 or text/rfc822-headers), if any. */
  readonly original: { readonly headers: Fields } | undefined;
}

const ORIGINAL_TYPES = new Set(['message/rfc822', 'text/rfc822-headers']);

/**
 * Returns undefined when the message has no message/feedback-report part; throws
 * UnreadableReportError when it is past the parser's limits.
 */
export async function parseArf(message: string | Buffer | ReportMessage): Promise<ArfReport | undefined> {
  const { parts } = typeof message === 'string' || Buffer.isBuffer(message) ? await parseReportMessage(message) : message;
  const report = parts.find((p) => p.type === 'message/feedback-report');
  if (!report) return undefined;
  // RFC 5965 has one block; some reporters split it, so the blocks' fields are merged
  const fields = new Map<string, string[]>();
  for (const block of await parseFieldBlocks(report.content)) {
    for (const [name, values] of block) {
      const merged = fields.get(name) ?? [];
      merged.push(...values);
      fields.set(name, merged);
    }
  }
  const attached = parts.find((p) => ORIGINAL_TYPES.has(p.type));
  return {
    feedbackType: (fields.get('feedback-type')?.[0] ?? '').toLowerCase(),
    userAgent: fields.get('user-agent')?.[0],
    originalMailFrom: addressOfField(fields.get('original-mail-from')?.[0]),
    originalRcptTo: (fields.get('original-rcpt-to') ?? []).map((v) => addressOfField(v)).filter((a): a is string => a !== undefined),
    original: attached ? { headers: await parseHeaderFields(attached.content) } : undefined,
  };
}

/** Return paths the report names: Original-Mail-From, then the attached original's Return-Path. */
export function returnPathsOf(report: ArfReport): string[] {
  const fromHeaders = (report.original?.headers.get('return-path') ?? []).map((v) => addressOfField(v));
  return [report.originalMailFrom, ...fromHeaders].filter((a): a is string => a !== undefined);
}

/** Who complained, as far as the report says (providers often redact it). */
export function complainantCandidates(report: ArfReport): string[] {
  const headers = report.original?.headers;
  const fromHeaders = ['to', 'delivered-to', 'x-original-to'].flatMap((name) => (headers?.get(name) ?? []).flatMap(addressesIn));
  return [...new Set([...report.originalRcptTo, ...fromHeaders])];
}

/**
 * The queue id the relay (host name `hostname`) gave the attached original, from its own
 * Received: field (`by hostname (mail-relay) with ... id QUEUEID`), lower case. Only the
 * topmost such field counts: the relay prepends its own, so any below it came with the
 * message from the sender, who could name another tenant's message there (or in Message-ID:).
 */
export function originalQueueId(report: ArfReport, hostname: string): string | undefined {
  const ours = `by ${hostname.toLowerCase()} (mail-relay) with `;
  for (const value of report.original?.headers.get('received') ?? []) {
    const lower = value.toLowerCase();
    const at = lower.indexOf(ours);
    if (at < 0) continue;
    return / id ([0-9a-z]{16})\b/.exec(lower.slice(at + ours.length, at + ours.length + 64))?.[1];
  }
  return undefined;
}

function addressesIn(value: string): string[] {
  return addressparser(value, { flatten: true })
    .map((a) => ('address' in a && a.address ? a.address.toLowerCase() : ''))
    .filter((a) => a.includes('@'));
}
