import MailComposer from 'nodemailer/lib/mail-composer';
import type MimeNode from 'nodemailer/lib/mime-node';
import { randomBytes } from 'node:crypto';
import { encodeContent, endWithLineBreak } from './build-steps.ts';
import { writeDirectMessage } from './direct-message.ts';
import type { MessageRequest } from './message-request.ts';
import { messageFields, type MessageIds } from './message-fields.ts';

/** nodemailer's MIME tree for a request (structure, headers, boundaries and transfer encodings). */
export function compileMessage(req: MessageRequest, ids: MessageIds): MimeNode {
  const f = messageFields(req, ids);
  return new MailComposer({
    from: f.from,
    ...(f.to.length ? { to: [...f.to] } : {}),
    ...(f.cc.length ? { cc: [...f.cc] } : {}),
    ...(f.replyTo.length ? { replyTo: [...f.replyTo] } : {}),
    ...(f.subject !== undefined ? { subject: f.subject } : {}),
    ...(f.text !== undefined ? { text: f.text } : {}),
    ...(f.html !== undefined ? { html: f.html } : {}),
    headers: [...f.headers],
    attachments: req.attachments.map((a) => ({ filename: a.filename, content: a.content, ...(a.contentType ? { contentType: a.contentType } : {}) })),
    messageId: f.messageId,
    date: f.date,
    disableFileAccess: true,
    disableUrlAccess: true,
    baseBoundary: ids.baseBoundary,
  }).compile();
}

/**
 * Builds the MIME message of an API request: the direct writer for the common shapes, else
 * nodemailer's composer. Attachments are only ever the request's own bytes: file and URL access
 * are off, so a request cannot make the relay read a local file or fetch a URL. Bcc recipients
 * are not written as a header.
 */
export async function composeMessage(req: MessageRequest, ids: Pick<MessageIds, 'messageId' | 'date'>): Promise<Buffer> {
  // one random boundary per message, rather than one drawn by every node of the tree
  const all = { ...ids, baseBoundary: randomBytes(8).toString('hex') };
  const direct = writeDirectMessage(req, all);
  if (direct) return direct;
  const root = compileMessage(req, all);
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
    // build() writes headers as UTF-8: a few (Message-ID, In-Reply-To, References) keep non-ASCII as it is
    out.push(Buffer.from(`${node.buildHeaders()}\r\n\r\n`, 'utf8'));
    if (content) {
      const encoded = encodeContent(typeof content === 'string' ? Buffer.from(content, 'utf8') : content, encoding, node.contentType ?? '');
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
  return walk(root) ? endWithLineBreak(Buffer.concat(out)) : undefined;
}
