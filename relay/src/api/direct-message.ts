import { buildHeaderValue, foldLines } from 'nodemailer/lib/mime-funcs';
import { encodeContent, endWithLineBreak, textTransferEncoding } from './build-steps.ts';
import { encodeAddresses, encodeDate, encodeMessageId, encodeSubject } from './header-encoding.ts';
import { RESERVED_HEADERS, type MessageRequest } from './message-request.ts';
import { messageFields, type MessageIds } from './message-fields.ts';
import { referenceNode } from './reference-node.ts';


interface Part {
  readonly contentType: string;
  readonly content: string;
}

/**
 * The bytes nodemailer's MailComposer and MimeNode#build() give for a request without
 * attachments (text, html, or both as multipart/alternative), written without building the MIME
 * tree and its streams, which cost more than the rest of an API request. Values are encoded with
 * nodemailer's own functions; what is written here is the order and structure build() gives
 * them. Undefined for a request this does not reproduce exactly; compileMessage then builds it.
 */
export function writeDirectMessage(req: MessageRequest, ids: MessageIds): Buffer | undefined {
  if (req.attachments.length > 0) return undefined;
  const f = messageFields(req, ids);
  // the composer skips a falsy Message-ID or Date and buildHeaders draws its own
  if (!f.messageId || !f.date) return undefined;

  const headers: string[] = [];
  for (const { key, value } of f.headers) {
    // the composer sets these itself (setHeader would replace a custom one in place); requests cannot carry them
    if (RESERVED_HEADERS.has(key.toLowerCase())) return undefined;
    const normalized = referenceNode._normalizeHeaderKey(key);
    addHeader(headers, normalized, referenceNode.encodeHeaderValue(normalized, value));
  }
  // MailComposer sets the fields that are truthy, in this order, after the custom headers
  addHeader(headers, 'From', encodeAddresses('From', [f.from]));
  if (f.to.length) addHeader(headers, 'To', encodeAddresses('To', f.to));
  if (f.cc.length) addHeader(headers, 'Cc', encodeAddresses('Cc', f.cc));
  if (f.replyTo.length) addHeader(headers, 'Reply-To', encodeAddresses('Reply-To', f.replyTo));
  if (f.subject) addHeader(headers, 'Subject', encodeSubject(f.subject));
  addHeader(headers, 'Message-ID', encodeMessageId(f.messageId));
  addHeader(headers, 'Date', encodeDate(f.date));

  const parts: Part[] = [];
  if (f.text) parts.push({ contentType: 'text/plain; charset=utf-8', content: f.text });
  if (f.html) parts.push({ contentType: 'text/html; charset=utf-8', content: f.html });

  const out: Buffer[] = [];
  const writeHead = (lines: readonly string[]) => out.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'));
  // on the root, buildHeaders appends Content-Transfer-Encoding and MIME-Version, then moves Content-Type last
  if (parts.length < 2) {
    // with neither text nor html MailComposer gives an empty text/plain node, without charset
    const part = parts[0] ?? { contentType: 'text/plain', content: '' };
    const encoding = textTransferEncoding(part.content);
    writeHead([...headers, ...(encoding ? [`Content-Transfer-Encoding: ${encoding}`] : []), 'MIME-Version: 1.0', `Content-Type: ${part.contentType}`]);
    return writeContent(part, encoding, out) ? endWithLineBreak(Buffer.concat(out)) : undefined;
  }
  // the root is node 1 of its tree (MimeNode#_generateBoundary)
  const boundary = `--_NmP-${ids.baseBoundary}-Part_1`;
  writeHead([...headers, 'MIME-Version: 1.0', foldLines(`Content-Type: ${buildHeaderValue({ value: 'multipart/alternative', params: { boundary } })}`, 76)]);
  for (const [i, part] of parts.entries()) {
    const encoding = textTransferEncoding(part.content);
    out.push(Buffer.from(`${i > 0 ? '\r\n' : ''}--${boundary}\r\n`, 'utf8'));
    writeHead([`Content-Type: ${part.contentType}`, ...(encoding ? [`Content-Transfer-Encoding: ${encoding}`] : [])]);
    if (!writeContent(part, encoding, out)) return undefined;
  }
  out.push(Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8'));
  return endWithLineBreak(Buffer.concat(out));
}

/** buildHeaders' line for an encoded value: skipped when blank, folded at 76. */
function addHeader(headers: string[], key: string, encoded: string): void {
  if (encoded.trim()) headers.push(foldLines(`${key}: ${encoded}`, 76));
}

function writeContent(part: Part, encoding: string | false, out: Buffer[]): boolean {
  if (!part.content) return true;
  const body = encodeContent(Buffer.from(part.content, 'utf8'), encoding, part.contentType);
  if (body) out.push(body);
  return body !== undefined;
}
