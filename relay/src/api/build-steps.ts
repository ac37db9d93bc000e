import type { Transform } from 'node:stream';
import { Encoder as Base64Encoder } from 'nodemailer/lib/base64';
import { hasLongerLines, isPlainText } from 'nodemailer/lib/mime-funcs';
import { Encoder as QpEncoder } from 'nodemailer/lib/qp';
import { referenceNode } from './reference-node.ts';

/**
 * The byte-level steps of nodemailer's MimeNode#build(), done on whole buffers: the content
 * transfer encoding of a node's content and the line break a message ends with.
 */

/** MimeNode#getTransferEncoding for string content of a text/* node with none set. */
export function textTransferEncoding(content: string): '7bit' | 'quoted-printable' | 'base64' | false {
  if (!content) return false;
  if (isPlainText(content) && !hasLongerLines(content, 76)) return '7bit';
  return referenceNode._getTextEncoding(content) === 'Q' ? 'quoted-printable' : 'base64';
}

/**
 * A node's content in its transfer encoding, with the encoders build() uses and the options it
 * gives them. Undefined if an encoder does not finish synchronously.
 */
export function encodeContent(bytes: Buffer, transferEncoding: string | false, contentType: string): Buffer | undefined {
  if (transferEncoding === 'base64') return encodeAtOnce(new Base64Encoder(), bytes);
  // outside text/* a lone CR or LF is data, as build() has it
  if (transferEncoding === 'quoted-printable') return encodeAtOnce(new QpEncoder({ binary: !/^text\//i.test(contentType) }), bytes);
  return bytes;
}

/** build() ends every message with a line break. */
export function endWithLineBreak(message: Buffer): Buffer {
  const last = message.at(-1);
  if (last === 0x0a) return message;
  return Buffer.concat([message, Buffer.from(last === 0x0d ? '\n' : '\r\n')]);
}

/** Runs a Transform's own `_transform` and `_flush` over one buffer and collects what it pushes. */
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
