import { formatRfc5322Date } from '../rfc5322-date.ts';

/** A recipient that will not be delivered, as the DSN reports it. */
export interface FailedRecipient {
  readonly recipient: string;
  /** The remote reply or local reason, e.g. `550 5.1.1 no such user`. */
  readonly reply: string;
  readonly remoteHost?: string;
  /** True when the message ran out of time (queue.maxAge) rather than being refused. */
  readonly expired: boolean;
}

export interface DsnInput {
  /** Our host name: Reporting-MTA and the From: domain. */
  readonly hostname: string;
  readonly queueId: string;
  /** Envelope sender of the original message: the DSN's recipient. */
  readonly originalSender: string;
  readonly arrivalDate: Date;
  readonly failures: readonly FailedRecipient[];
  /** The original header block, ending with CRLF CRLF (or as much of it as there is). */
  readonly originalHeaders: Buffer;
  readonly now: Date;
  /** Unique per DSN: the MIME boundary and Message-ID are derived from it. */
  readonly dsnId: string;
}

/** The RFC 3463 status in a reply (`5.1.1`), or one derived from its code. */
export function statusOf(reply: string, expired: boolean): string {
  if (expired) return '4.4.7';
  const enhanced = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply);
  if (enhanced) return enhanced[1]!;
  const code = /^(\d)\d\d/.exec(reply);
  if (code?.[1] === '5') return '5.0.0';
  return '4.0.0';
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[^\x20-\x7e]/g, '?').slice(0, 900);
}

/**
 * A delivery status notification (RFC 3464): a multipart/report with a human-readable part,
 * the machine-readable message/delivery-status, and the original headers. Sent from the null
 * sender so that it can never bounce back.
 */
export function buildDsn(input: DsnInput): Buffer {
  const boundary = `dsn-${input.dsnId}`;
  const expiredAll = input.failures.every((f) => f.expired);
  const subject = expiredAll ? 'Undelivered Mail: delivery time expired' : 'Undelivered Mail Returned to Sender';
  const human = [
    `This is the mail relay at ${input.hostname}.`,
    '',
    expiredAll
      ? 'Your message could not be delivered in time to the recipients below; the relay has stopped trying.'
      : 'Your message could not be delivered to the recipients below.',
    '',
    ...input.failures.map((f) => `<${oneLine(f.recipient)}>: ${f.remoteHost ? `host ${oneLine(f.remoteHost)} said: ` : ''}${oneLine(f.reply)}`),
    '',
    `Queue ID: ${input.queueId}`,
  ].join('\r\n');
  const perMessage = [
    `Reporting-MTA: dns; ${input.hostname}`,
    `X-Mail-Relay-Queue-ID: ${input.queueId}`,
    `Arrival-Date: ${formatRfc5322Date(input.arrivalDate)}`,
  ].join('\r\n');
  const perRecipient = input.failures.map((f) =>
    [
      `Final-Recipient: rfc822; ${oneLine(f.recipient)}`,
      'Action: failed',
      `Status: ${statusOf(f.reply, f.expired)}`,
      ...(f.remoteHost ? [`Remote-MTA: dns; ${oneLine(f.remoteHost)}`] : []),
      /^\d{3}/.test(f.reply) ? `Diagnostic-Code: smtp; ${oneLine(f.reply)}` : `Diagnostic-Code: x-local; ${oneLine(f.reply)}`,
      `Last-Attempt-Date: ${formatRfc5322Date(input.now)}`,
    ].join('\r\n'),
  );
  const headerEnd = input.originalHeaders.indexOf('\r\n\r\n');
  const headers = headerEnd === -1 ? input.originalHeaders : input.originalHeaders.subarray(0, headerEnd + 2);
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.hostname}>`,
    `To: <${oneLine(input.originalSender)}>`,
    `Subject: ${subject}`,
    `Date: ${formatRfc5322Date(input.now)}`,
    `Message-ID: <${input.dsnId.toLowerCase()}@${input.hostname}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Description: Notification',
    '',
    human,
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    perMessage,
    '',
    perRecipient.join('\r\n\r\n'),
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    'Content-Description: Undelivered message headers',
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), headers, Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1')]);
}
