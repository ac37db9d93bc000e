import type { LabelInput } from '../submission/message-labels.ts';
import { FieldProblems, base64, headerText, isRecord, mailbox, mailboxList, rejectUnknown, type Mailbox } from './request-fields.ts';

/** The body of `POST /v1/messages`, validated. */
export interface MessageRequest {
  readonly from: Mailbox;
  readonly to: readonly Mailbox[];
  readonly cc: readonly Mailbox[];
  readonly bcc: readonly Mailbox[];
  readonly replyTo: readonly Mailbox[];
  readonly subject?: string;
  readonly text?: string;
  readonly html?: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly attachments: ReadonlyArray<{ readonly filename: string; readonly content: Buffer; readonly contentType?: string }>;
  /** `category`, `tags` and `metadata` as given: the submission pipeline checks them, as it does the header fields. */
  readonly labels: LabelInput;
}

const FIELDS = ['from', 'to', 'cc', 'bcc', 'replyTo', 'subject', 'text', 'html', 'headers', 'attachments', 'category', 'tags', 'metadata'];
/** RFC 5322 field name: printable ASCII except colon. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]{1,76}$/;
/** Headers the request sets through its own fields, or that only the MIME composer and the relay write. */
export const RESERVED_HEADERS = new Set([
  'from', 'sender', 'to', 'cc', 'bcc', 'reply-to', 'subject', 'received', 'return-path',
  'mime-version', 'content-type', 'content-transfer-encoding', 'content-disposition', 'dkim-signature',
  'x-mail-relay-category', 'x-mail-relay-tags', 'x-mail-relay-metadata',
]);
/**
 * Trace and authentication fields, written only by the mail servers a message passes through
 * (RFC 5321 4.4, RFC 8601, RFC 8617, RFC 6376, RFC 5322 3.6.6, and the delivery headers MTAs
 * add): a sender that set them could forge a verdict or a delivery path that receivers and
 * our own feedback intake read.
 */
const TRACE_HEADERS = new Set([
  'received', 'return-path', 'dkim-signature', 'domainkey-signature', 'authentication-results', 'received-spf',
  'x-original-to', 'delivered-to', 'envelope-to', 'x-envelope-to', 'x-envelope-from', 'original-recipient',
]);
const TRACE_PREFIXES = ['arc-', 'resent-'];

export function isTraceHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return TRACE_HEADERS.has(lower) || TRACE_PREFIXES.some((p) => lower.startsWith(p));
}

const CONTENT_TYPE = /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/;

/** Validates a decoded JSON body; throws a 400 naming every bad field. */
export function parseMessageRequest(body: unknown): MessageRequest {
  const problems = new FieldProblems();
  if (!isRecord(body)) {
    problems.add('', 'the body must be a JSON object');
    problems.check();
  }
  const b = body as Record<string, unknown>;
  rejectUnknown(b, FIELDS, problems);
  if (b.from === undefined) problems.add('from', 'is required');
  const from = b.from === undefined ? undefined : mailbox(b.from, 'from', problems);
  const to = mailboxList(b.to, 'to', problems);
  const cc = mailboxList(b.cc, 'cc', problems);
  const bcc = mailboxList(b.bcc, 'bcc', problems);
  if (b.to === undefined && b.cc === undefined && b.bcc === undefined) problems.add('to', 'is required (or cc or bcc)');
  const replyTo = mailboxList(b.replyTo, 'replyTo', problems);
  const subject = headerText(b.subject, 'subject', problems);
  const text = bodyText(b.text, 'text', problems);
  const html = bodyText(b.html, 'html', problems);
  if (b.text === undefined && b.html === undefined) problems.add('text', 'is required (or html)');
  const headers = parseHeaders(b.headers, problems);
  const attachments = parseAttachments(b.attachments, problems);
  problems.check();
  return {
    from: from!,
    to,
    cc,
    bcc,
    replyTo,
    ...(subject !== undefined ? { subject } : {}),
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
    headers,
    attachments,
    labels: {
      ...(b.category !== undefined ? { category: b.category } : {}),
      ...(b.tags !== undefined ? { tags: b.tags } : {}),
      ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
    },
  };
}

function bodyText(value: unknown, field: string, problems: FieldProblems): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    problems.add(field, 'must be a string');
    return undefined;
  }
  if (value.includes('\0')) {
    problems.add(field, 'must not contain NUL');
    return undefined;
  }
  return value;
}

function parseHeaders(value: unknown, problems: FieldProblems): Array<[string, string]> {
  if (value === undefined) return [];
  if (!isRecord(value)) {
    problems.add('headers', 'must be an object of header names to string values');
    return [];
  }
  const out: Array<[string, string]> = [];
  for (const [name, raw] of Object.entries(value)) {
    const field = `headers.${name}`;
    if (!FIELD_NAME.test(name)) {
      problems.add(field, 'is not a valid header name');
      continue;
    }
    if (isTraceHeader(name)) {
      problems.add(field, 'is a trace or authentication header, which only mail servers write');
      continue;
    }
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      problems.add(field, 'is set by the API itself; use the request field instead');
      continue;
    }
    const text = headerText(raw, field, problems);
    if (text !== undefined) out.push([name, text]);
  }
  return out;
}

function parseAttachments(value: unknown, problems: FieldProblems): MessageRequest['attachments'] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.add('attachments', 'must be a list of { filename, content, contentType }');
    return [];
  }
  const out: Array<{ filename: string; content: Buffer; contentType?: string }> = [];
  value.forEach((item, i) => {
    const field = `attachments[${i}]`;
    if (!isRecord(item)) {
      problems.add(field, 'must be an object { filename, content, contentType }');
      return;
    }
    rejectUnknown(item, ['filename', 'content', 'contentType'], problems, field);
    if (item.filename === undefined) problems.add(`${field}.filename`, 'is required');
    const filename = headerText(item.filename, `${field}.filename`, problems, { max: 255 });
    const content = base64(item.content, `${field}.content`, problems);
    const contentType = headerText(item.contentType, `${field}.contentType`, problems, { max: 255 });
    if (contentType !== undefined && !CONTENT_TYPE.test(contentType)) problems.add(`${field}.contentType`, 'must be a media type such as application/pdf');
    if (filename && content) out.push({ filename, content, ...(contentType ? { contentType } : {}) });
  });
  return out;
}
