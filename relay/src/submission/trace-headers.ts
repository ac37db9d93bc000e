import { formatRfc5322Date } from '../rfc5322-date.ts';

/**
 * Headers the relay adds in front of a message: the `Received:` trace line (RFC 5321 4.4)
 * always, and a missing `Message-ID:` or `Date:` (RFC 6409 8.2, 8.3): every message the relay
 * takes in comes from an authenticated or trusted client, so the relay is its first hop.
 */

export interface TraceInput {
  readonly queueId: string;
  readonly hostname: string;
  readonly helo: string | undefined;
  readonly clientAddress: string;
  readonly protocol: string;
  /** Named only for a single recipient, so one message cannot disclose a Bcc list. */
  readonly recipient: string | undefined;
  readonly tlsVersion: string | undefined;
  readonly now: Date;
}

function clean(text: string): string {
  // a HELO argument is client-controlled: keep it on one line and free of comment syntax
  return text.replace(/[^\x21-\x7e]/g, '').replace(/[()\\]/g, '').slice(0, 255);
}

export function buildReceivedHeader(t: TraceInput): string {
  const from = `from ${clean(t.helo ?? 'unknown')} ([${t.clientAddress.replace(/^::ffff:/i, '')}])`;
  const by = `by ${t.hostname} (mail-relay)`;
  const withPart = `with ${t.protocol} id ${t.queueId}${t.tlsVersion ? ` (version=${t.tlsVersion})` : ''}`;
  const forPart = t.recipient ? `\r\n\tfor <${clean(t.recipient)}>` : '';
  return `Received: ${from}\r\n\t${by}\r\n\t${withPart}${forPart};\r\n\t${formatRfc5322Date(t.now)}\r\n`;
}

export function buildMessageIdHeader(queueId: string, hostname: string): string {
  return `Message-ID: <${queueId.toLowerCase()}@${hostname}>\r\n`;
}

export function buildDateHeader(now: Date): string {
  return `Date: ${formatRfc5322Date(now)}\r\n`;
}

/** RFC 3848 protocol names for the `with` clause. */
export function protocolName(esmtp: boolean, tls: boolean, auth: boolean): string {
  if (!esmtp) return 'SMTP';
  return `ESMTP${tls ? 'S' : ''}${auth ? 'A' : ''}`;
}
