import { addressOfField, parseFieldBlocks, parseReportMessage, type ReportMessage } from './mime.ts';

/** One per-recipient block of a delivery status notification (RFC 3464 section 2.3). */
export interface DsnRecipient {
  readonly finalRecipient: string | undefined;
  readonly originalRecipient: string | undefined;
  /** failed | delayed | delivered | relayed | expanded, lower case. */
  readonly action: string;
  /** RFC 3463 status, e.g. `5.1.1`. */
  readonly status: string;
  readonly diagnostic: string | undefined;
}

export interface Dsn {
  readonly reportingMta: string | undefined;
  readonly recipients: readonly DsnRecipient[];
}

const STATUS_PARTS = new Set(['message/delivery-status', 'message/global-delivery-status']);

/**
 * Reads a DSN: the message/delivery-status part of a multipart/report (report-type
 * delivery-status). Returns undefined when the message is not one (an auto-reply, spam); throws
 * UnreadableReportError when it is past the parser's limits.
 */
export async function parseDsn(message: string | Buffer | ReportMessage): Promise<Dsn | undefined> {
  const { parts } = typeof message === 'string' || Buffer.isBuffer(message) ? await parseReportMessage(message) : message;
  const status = parts.find((p) => STATUS_PARTS.has(p.type));
  if (!status) return undefined;
  const [perMessage, ...perRecipient] = await parseFieldBlocks(status.content);
  if (!perMessage) return undefined;
  // a report may put the first recipient block where the per-message block belongs
  const blocks = perMessage.has('final-recipient') ? [perMessage, ...perRecipient] : perRecipient;
  const recipients = blocks
    .filter((b) => b.has('final-recipient') || b.has('original-recipient'))
    .map((b) => ({
      finalRecipient: addressOfField(b.get('final-recipient')?.[0]),
      originalRecipient: addressOfField(b.get('original-recipient')?.[0]),
      action: (b.get('action')?.[0] ?? '').toLowerCase(),
      status: /\d\.\d{1,3}\.\d{1,3}/.exec(b.get('status')?.[0] ?? '')?.[0] ?? '',
      diagnostic: b.get('diagnostic-code')?.[0],
    }));
  const mta = perMessage.get('reporting-mta')?.[0];
  return { reportingMta: mta?.replace(/^dns;\s*/i, ''), recipients };
}

/** A permanent failure: Action failed with a 5.x.x status. */
export function isHardBounce(r: DsnRecipient): boolean {
  return r.action === 'failed' && r.status.startsWith('5.');
}
