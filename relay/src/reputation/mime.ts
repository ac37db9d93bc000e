import PostalMime from 'postal-mime';

/**
 * Delivery and feedback reports read with postal-mime, under limits sized for real reports
 * (a few parts, a few kilobytes of fields) so that a hostile one costs bounded, linear work.
 * Anyone may send these without AUTH. Text is handled as latin1 so any byte survives; reports
 * are ASCII in practice.
 */

/** Header fields of an entity or a report block: lower-case name → values, in order. */
export type Fields = ReadonlyMap<string, readonly string[]>;

export interface ReportPart {
  /** `type/subtype`, lower case. */
  readonly type: string;
  /** The content with its transfer encoding undone. */
  readonly content: string;
}

export interface ReportMessage {
  readonly headers: Fields;
  /** The non-text parts (report parts and attached originals), in order. */
  readonly parts: readonly ReportPart[];
}

/**
 * Only the start of a message is read. postal-mime costs about a microsecond a line, all of it
 * in one turn of the event loop, so this bounds the stall a report can cause (a megabyte of
 * empty lines took 0.8 s). The report parts come before the returned original (RFC 3462,
 * RFC 5965), and of the original only its header is read.
 */
export const MAX_REPORT_BYTES = 128 * 1024;

// A report has three or four parts, Gmail's up to eight; fields and the attached original's
// header fit in a few kilobytes. Past these a report is not one, and postal-mime refuses it.
const LIMITS = {
  maxNestingDepth: 8,
  maxPartCount: 32,
  maxHeadersSize: 64 * 1024,
  // attached originals stay parts (never parsed as nested messages), so they cost nothing more
  maxRfc822NestingDepth: 0,
  maxForwardedAddresses: 100,
} as const;

/** Report blocks beyond the first ones are ignored: a DSN names one block per recipient. */
export const MAX_FIELD_BLOCKS = 50;
/** Values kept per field name in one block. */
export const MAX_VALUES_PER_FIELD = 50;

/** A message postal-mime refused under the limits above, or could not read at all. */
export class UnreadableReportError extends Error {
  constructor(cause: unknown) {
    super('feedback message not readable as a report', { cause });
    this.name = 'UnreadableReportError';
  }
}

async function parse(message: string | Buffer): Promise<Awaited<ReturnType<typeof PostalMime.parse>>> {
  try {
    return await PostalMime.parse(message, LIMITS);
  } catch (err) {
    throw new UnreadableReportError(err);
  }
}

function toFields(headers: ReadonlyArray<{ key: string; value: string }>): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const { key, value } of headers) {
    const values = fields.get(key) ?? [];
    if (values.length >= MAX_VALUES_PER_FIELD) continue;
    // folding whitespace is kept by postal-mime; one space reads the same and logs shorter
    values.push(value.replace(/\s+/g, ' ').trim());
    fields.set(key, values);
  }
  return fields;
}

/** The header and the non-text parts of a message; throws UnreadableReportError past the limits. */
export async function parseReportMessage(message: string | Buffer): Promise<ReportMessage> {
  const email = await parse(typeof message === 'string' ? message.slice(0, MAX_REPORT_BYTES) : message.subarray(0, MAX_REPORT_BYTES));
  return {
    headers: toFields(email.headers),
    parts: email.attachments.map((a) => ({
      type: a.mimeType.toLowerCase(),
      content: typeof a.content === 'string' ? a.content : Buffer.from(a.content as ArrayBuffer).toString('latin1'),
    })),
  };
}

/** The header fields of an entity (an attached original or its text/rfc822-headers), body ignored. */
export async function parseHeaderFields(entity: string): Promise<Fields> {
  // only the header section: the original's body can be most of the report and is never read
  const end = /\r?\n\r?\n/.exec(entity);
  const head = end ? entity.slice(0, end.index) : entity;
  return toFields((await parse(`${head}\r\n\r\n`)).headers);
}

/**
 * The blocks of a report body (message/delivery-status, message/feedback-report): groups of
 * header fields separated by blank lines, at most MAX_FIELD_BLOCKS of them. postal-mime reads
 * one header section per entity and a report body holds several, so the split is ours (one
 * pass over the lines); each block is then read by postal-mime as a header section.
 */
export async function parseFieldBlocks(text: string): Promise<Fields[]> {
  const blocks: string[] = [];
  let current: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (current.length > 0) blocks.push(current.join('\r\n'));
      current = [];
      if (blocks.length >= MAX_FIELD_BLOCKS) break;
    } else {
      current.push(line);
    }
  }
  if (current.length > 0 && blocks.length < MAX_FIELD_BLOCKS) blocks.push(current.join('\r\n'));
  const out: Fields[] = [];
  for (const block of blocks) {
    const fields = await parseHeaderFields(block);
    if (fields.size > 0) out.push(fields);
  }
  return out;
}

/**
 * `rfc822; user@example.net` or `<user@example.net>` → `user@example.net`, lower case. Ours:
 * the `address-type;` prefix of RFC 3464 fields is no address syntax a mail parser knows.
 */
export function addressOfField(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const afterType = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  const text = afterType.trim().replace(/^<|>$/g, '').trim();
  // RFC 5321 4.5.3.1.3: a path is at most 256 octets; anchored, so hostile input cannot backtrack
  if (text.length > 256) return undefined;
  return /^[^\s<>;"@]+@[^\s<>;"@]+$/.test(text) ? text.toLowerCase() : undefined;
}
