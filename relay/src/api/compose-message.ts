import MailComposer from 'nodemailer/lib/mail-composer';
import type MimeNode from 'nodemailer/lib/mime-node';
import { randomBytes } from 'node:crypto';
import type { Transform } from 'node:stream';
import { Encoder as Base64Encoder } from 'nodemailer/lib/base64';
import { Encoder as QpEncoder } from 'nodemailer/lib/qp';
import type { MessageRequest } from './message-request.ts';
import type { Mailbox } from './request-fields.ts';

function formatted(list: readonly Mailbox[]): Array<{ name: string; address: string }> {
  return list.map((m) => ({ name: m.name ?? '', address: m.address }));
}

function crlf(text: string): string {
  return text.replace(/\r\n|\r|\n/g, '\r\n');
}

/** nodemailer's MIME tree for a request (structure, headers, boundaries and transfer encodings). */
export function compileMessage(req: MessageRequest, ids: { readonly messageId: string; readonly date: Date }): MimeNode {
  const custom = new Map(req.headers.map(([k, v]) => [k.toLowerCase(), v]));
  return new MailComposer({
    from: { name: req.from.name ?? '', address: req.from.address },
    ...(req.to.length ? { to: formatted(req.to) } : {}),
    ...(req.cc.length ? { cc: formatted(req.cc) } : {}),
    ...(req.replyTo.length ? { replyTo: formatted(req.replyTo) } : {}),
    ...(req.subject !== undefined ? { subject: req.subject } : {}),
    // line breaks as CRLF, as RFC 5322 has them (a lone CR or LF would be encoded as data)
    ...(req.text !== undefined ? { text: crlf(req.text) } : {}),
    ...(req.html !== undefined ? { html: crlf(req.html) } : {}),
    headers: req.headers.filter(([k]) => !/^(message-id|date)$/i.test(k)).map(([key, value]) => ({ key, value })),
    attachments: req.attachments.map((a) => ({ filename: a.filename, content: a.content, ...(a.contentType ? { contentType: a.contentType } : {}) })),
    // a Message-ID or Date the client gives is kept; otherwise the relay's, as on submission
    messageId: custom.get('message-id') ?? ids.messageId,
    date: custom.get('date') ?? ids.date,
    disableFileAccess: true,
    disableUrlAccess: true,
    // one random boundary per message, rather than one drawn by every node of the tree
    baseBoundary: randomBytes(8).toString('hex'),
  }).compile();
}

/**
 * Builds the MIME message of an API request with nodemailer's composer. Attachments are only
 * ever the request's own bytes: file and URL access are off, so a request cannot make the
 * relay read a local file or fetch a URL. Bcc recipients are not written as a header.
 */
export async function composeMessage(req: MessageRequest, ids: { readonly messageId: string; readonly date: Date }): Promise<Buffer> {
  const root = compileMessage(req, ids);
  return serializeInMemory(root) ?? new Promise<Buffer>((resolve, reject) => root.build((err, message) => (err ? reject(err) : resolve(message))));
}

/**
 * MimeNode#build's output for a tree whose contents are all in memory, written synchronously.
 * build() streams every node through its own pipeline of transforms, which profiling showed
 * to cost several times more than the rest of an API request; the bytes are the same (checked
 * against build() by compose-message.test.ts). Undefined for a tree it does not handle.
 */
export function serializeInMemory(root: MimeNode): Buffer | undefined {
  const out: Buffer[] = [];
  const walk = (node: MimeNode): boolean => {
    const internal = node as MimeNode & { _raw?: unknown; _transforms: unknown[]; _processFuncs: unknown[] };
    if (internal._raw || internal._transforms.length > 0 || internal._processFuncs.length > 0) return false;
    const content = node.content;
    if (content !== undefined && typeof content !== 'string' && !Buffer.isBuffer(content)) return false;
    const encoding = node.getTransferEncoding();
    out.push(Buffer.from(`${node.buildHeaders()}\r\n\r\n`, 'latin1'));
    if (content) {
      const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
      // the encoders build() uses, with the options it gives them
      const encoder =
        encoding === 'base64'
          ? new Base64Encoder()
          : encoding === 'quoted-printable'
            ? new QpEncoder({ binary: !/^text\//i.test(node.contentType ?? '') } as ConstructorParameters<typeof QpEncoder>[0])
            : undefined;
      const encoded = encoder ? encodeAtOnce(encoder, bytes) : bytes;
      if (!encoded) return false;
      out.push(encoded);
    }
    if (node.multipart) {
      for (const [i, child] of node.childNodes.entries()) {
        out.push(Buffer.from(`${i > 0 ? '\r\n' : ''}--${String(node.boundary)}\r\n`, 'latin1'));
        if (!walk(child)) return false;
      }
      out.push(Buffer.from(`\r\n--${String(node.boundary)}--\r\n`, 'latin1'));
    }
    return true;
  };
  if (!walk(root)) return undefined;
  const message = Buffer.concat(out);
  // build() ends every message with a line break
  const last = message.at(-1);
  if (last === 0x0a) return message;
  return Buffer.concat([message, Buffer.from(last === 0x0d ? '\n' : '\r\n')]);
}

/**
 * Runs a Transform's own `_transform` and `_flush` over one buffer and collects what it pushes.
 * Undefined if it does not finish synchronously (then build() is used instead).
 */
function encodeAtOnce(encoder: Transform, bytes: Buffer): Buffer | undefined {
  const chunks: Buffer[] = [];
  let calls = 0;
  encoder.push = (chunk: Buffer | string | null, enc?: BufferEncoding) => {
    if (chunk !== null) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, enc ?? 'utf8') : chunk);
    return true;
  };
  const done = (err?: Error | null) => {
    if (!err) calls++;
  };
  // 'buffer' is what a stream passes for Buffer chunks
  encoder._transform(bytes, 'buffer' as BufferEncoding, done);
  encoder._flush?.(done);
  return calls === 2 ? Buffer.concat(chunks) : undefined;
}
