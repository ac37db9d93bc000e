import DataStream from 'nodemailer/lib/smtp-connection/data-stream';

/**
 * A fast path for nodemailer's DATA encoder (pinned to ^10 in package.json; re-check on
 * upgrade). DataStream looks at every byte in JavaScript to stuff leading dots and turn bare
 * CR or LF into CRLF; profiling put it at ~5% of the relay's CPU per relayed message. Mail
 * from our spool is almost always clean already (CRLF line ends, no line starting with a dot),
 * and such a chunk passes through unchanged, so check that with native searches, one per
 * line, and leave every other chunk to the original code. relay/src/delivery/data-stream-
 * patch.test.ts compares both on random input.
 */
const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

interface Internals {
  _transform(chunk: Buffer | string, encoding: BufferEncoding, done: () => void): void;
  push(chunk: Buffer): boolean;
  inByteCount: number;
  outByteCount: number;
  lastByte: number | false;
  __mailRelayPatched?: boolean;
}

/** True when the original would push `chunk` unchanged after a chunk ending in `lastByte`. */
export function passesUnchanged(chunk: Buffer, lastByte: number | false): boolean {
  const first = chunk[0];
  if (lastByte === CR && first !== LF) return false;
  if ((lastByte === LF || lastByte === false) && first === DOT) return false;
  for (let at = chunk.indexOf(LF); at !== -1; at = chunk.indexOf(LF, at + 1)) {
    if ((at > 0 ? chunk[at - 1] : lastByte) !== CR) return false;
    if (chunk[at + 1] === DOT) return false;
  }
  for (let at = chunk.indexOf(CR); at !== -1 && at + 1 < chunk.length; at = chunk.indexOf(CR, at + 1)) {
    if (chunk[at + 1] !== LF) return false;
  }
  return true;
}

const proto = DataStream.prototype as unknown as Internals;
if (!proto.__mailRelayPatched) {
  const original = proto._transform;
  proto._transform = function fastTransform(this: Internals, chunk, encoding, done) {
    if (!Buffer.isBuffer(chunk) || chunk.length === 0 || !passesUnchanged(chunk, this.lastByte)) {
      original.call(this, chunk, encoding, done);
      return;
    }
    this.inByteCount += chunk.length;
    this.outByteCount += chunk.length;
    this.push(chunk);
    this.lastByte = chunk[chunk.length - 1]!;
    done();
  };
  proto.__mailRelayPatched = true;
}
