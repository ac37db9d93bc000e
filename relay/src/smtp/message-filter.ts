/**
 * Normalises a message body as it streams in from DATA:
 * - bare LF becomes CRLF, so what we relay can never be read differently by the next hop
 *   (SMTP smuggling) and signatures computed later match what is sent;
 * - a NUL byte makes the message invalid (RFC 5322 forbids it; many MTAs mangle it);
 * - the header block is held back until it is complete, so the caller can add a missing
 *   Message-ID:/Date: in front of the body without buffering the body itself.
 */

const CR = 0x0d;
const LF = 0x0a;
const HEADER_END = Buffer.from('\r\n\r\n');
/** Header blocks longer than this are passed on as they are; nobody legitimate sends them. */
const MAX_HEADER_BLOCK = 256 * 1024;

export interface HeaderInfo {
  readonly hasMessageId: boolean;
  readonly hasDate: boolean;
  readonly fromHeader: string | undefined;
}

export class MessageFilter {
  private lastWasCr = false;
  private header: Buffer[] | undefined = [];
  private headerLength = 0;
  hasNul = false;
  headerInfo: HeaderInfo | undefined;

  /** Returns the bytes ready to store; while the header block is incomplete that may be nothing. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.indexOf(0) !== -1) this.hasNul = true;
    const normalised = this.fixLineEndings(chunk);
    if (!this.header) return [normalised];
    this.header.push(normalised);
    this.headerLength += normalised.length;
    const joined = this.header.length === 1 ? normalised : Buffer.concat(this.header, this.headerLength);
    this.header = [joined];
    // a message that starts with an empty line has no headers
    const end = joined.subarray(0, 2).equals(Buffer.from('\r\n')) ? 0 : joined.indexOf(HEADER_END);
    if (end === -1 && joined.length < MAX_HEADER_BLOCK) return [];
    this.headerInfo = inspectHeaders(end === -1 ? joined : joined.subarray(0, end + 2));
    this.header = undefined;
    return [joined];
  }

  /** Call at the end of DATA: whatever is still held (a message that is all headers). */
  end(): Buffer[] {
    if (!this.header) return [];
    const joined = Buffer.concat(this.header, this.headerLength);
    this.headerInfo = inspectHeaders(joined);
    this.header = undefined;
    return joined.length > 0 ? [joined] : [];
  }

  private fixLineEndings(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    let bare = 0;
    for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
      if (!(i === 0 ? this.lastWasCr : chunk[i - 1] === CR)) bare++;
    }
    if (bare === 0) {
      this.lastWasCr = chunk[chunk.length - 1] === CR;
      return chunk;
    }
    const out = Buffer.allocUnsafe(chunk.length + bare);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === LF && !this.lastWasCr) out[o++] = CR;
      out[o++] = c;
      this.lastWasCr = c === CR;
    }
    return out;
  }
}

function inspectHeaders(block: Buffer): HeaderInfo {
  const text = block.toString('latin1');
  const from = /^from[ \t]*:(.*(?:\r\n[ \t].*)*)/im.exec(text);
  return {
    hasMessageId: /^message-id[ \t]*:/im.test(text),
    hasDate: /^date[ \t]*:/im.test(text),
    fromHeader: from ? from[1]!.replace(/\r\n/g, '').trim() : undefined,
  };
}
