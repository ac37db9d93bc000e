import type { MessageRequest } from './message-request.ts';
import type { Mailbox } from './request-fields.ts';

/** The relay's identifiers for one message, and the random part of its multipart boundaries. */
export interface MessageIds {
  readonly messageId: string;
  readonly date: Date;
  /** randomBytes(8) as hex, drawn once per message, as MimeNode would draw it for the root. */
  readonly baseBoundary: string;
}

export interface Address {
  readonly name: string;
  readonly address: string;
}

/**
 * A request in the shape nodemailer's composer takes it. compileMessage and the direct writer
 * both start from this, so they cannot disagree on what the message holds.
 */
export interface MessageFields {
  readonly from: Address;
  readonly to: readonly Address[];
  readonly cc: readonly Address[];
  readonly replyTo: readonly Address[];
  readonly subject?: string;
  readonly text?: string;
  readonly html?: string;
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: string }>;
  readonly messageId: string;
  readonly date: Date | string;
}

function formatted(list: readonly Mailbox[]): Address[] {
  return list.map((m) => ({ name: m.name ?? '', address: m.address }));
}

function crlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

export function messageFields(req: MessageRequest, ids: Pick<MessageIds, 'messageId' | 'date'>): MessageFields {
  const custom = new Map(req.headers.map(([k, v]) => [k.toLowerCase(), v]));
  return {
    from: { name: req.from.name ?? '', address: req.from.address },
    to: formatted(req.to),
    cc: formatted(req.cc),
    replyTo: formatted(req.replyTo),
    ...(req.subject !== undefined ? { subject: req.subject } : {}),
    // line breaks as CRLF, as RFC 5322 has them (a lone CR or LF would be encoded as data)
    ...(req.text !== undefined ? { text: crlf(req.text) } : {}),
    ...(req.html !== undefined ? { html: crlf(req.html) } : {}),
    headers: req.headers.filter(([k]) => !/^(message-id|date)$/i.test(k)).map(([key, value]) => ({ key, value })),
    // a Message-ID or Date the client gives is kept; otherwise the relay's, as on submission
    messageId: custom.get('message-id') ?? ids.messageId,
    date: custom.get('date') ?? ids.date,
  };
}
