/**
 * Normalises a message as it streams in, over SMTP and HTTP alike:
 * - bare CR and bare LF become CRLF, so what we relay can never be read differently by the
 *   next hop (SMTP smuggling) and the DKIM signature computed later covers exactly the bytes
 *   that are sent (a bare CR left in would be turned into CRLF on the wire, after signing);
 * - a NUL byte makes the message invalid (RFC 5322 forbids it; many MTAs mangle it);
 * - the header block is held back until it is complete, so the pipeline can check From: and
 *   add a missing Message-ID:/Date: in front of the body without buffering the body itself;
 * - the X-Mail-Relay-Category/-Tags/-Metadata fields are taken out of the header block (their
 *   values go to headerInfo): they are instructions to the relay, never sent on or signed.
 * Linear in the input however it is chunked: each byte is looked at a bounded number of times.
 */

import { headerFieldName, isFieldName } from '../header-field-name.ts';
import { LABEL_HEADERS, type LabelHeader } from './message-labels.ts';

const CR = 0x0d;
const LF = 0x0a;
const HEADER_END = Buffer.from('\r\n\r\n');
/** Header blocks longer than this are refused: nobody legitimate sends them, and an unread From: would escape the policy. */
export const MAX_HEADER_BLOCK = 256 * 1024;

export interface HeaderInfo {
  readonly hasMessageId: boolean;
  /** The first Message-ID: field's value, trimmed and at most 998 characters (events carry it). */
  readonly messageId?: string;
  readonly hasDate: boolean;
  /** Every From: field value, unfolded (several are possible; the policy refuses them). */
  readonly from: readonly string[];
  /** Every Sender: field value, unfolded. */
  readonly sender: readonly string[];
  /** Every Resent-From: and Resent-Sender: field value, unfolded, with its lower-case name. */
  readonly resent: ReadonlyArray<{ readonly name: 'resent-from' | 'resent-sender'; readonly value: string }>;
  /**
   * A field name that is not printable ASCII (isFieldName), or a folded line that continues no
   * field (the first line, or one after a line without a colon): mailauth reads ` From: x` and
   * `From` + ` : x` as From: fields, we would not. The pipeline refuses the message.
   */
  readonly malformedField: boolean;
  /** Every X-Mail-Relay-* label field value, unfolded, by lower-case name; one character per byte (latin1). */
  readonly labels: ReadonlyMap<LabelHeader, readonly string[]>;
}

export class MessageFilter {
  private lastWasCr = false;
  private header: Buffer[] | undefined = [];
  private headerLength = 0;
  /** How many bytes of CRLFCRLF the held header ends with, so one split across chunks is found. */
  private matched = 0;
  private firstByte = -1;
  hasNul = false;
  /** The header block outgrew MAX_HEADER_BLOCK; nothing more is held and the message is invalid. */
  headerTooLong = false;
  headerInfo: HeaderInfo | undefined;

  /** Returns the bytes ready to store; while the header block is incomplete that may be nothing. */
  push(chunk: Buffer): Buffer[] {
    if (chunk.indexOf(0) !== -1) this.hasNul = true;
    const normalised = this.fixLineEndings(chunk);
    if (!this.header) return this.headerTooLong ? [] : [normalised];
    if (normalised.length === 0) return [];
    const end = this.findHeaderEnd(normalised);
    this.header.push(normalised);
    this.headerLength += normalised.length;
    if (end === -1) {
      if (this.headerLength < MAX_HEADER_BLOCK) return [];
      this.headerTooLong = true;
      this.header = undefined;
      return [];
    }
    return [this.release(end)];
  }

  /** Call at the end of the message: whatever is still held (a message that is all headers). */
  end(): Buffer[] {
    if (!this.header) return [];
    const joined = this.release(this.headerLength);
    return joined.length > 0 ? [joined] : [];
  }

  /** Concatenates the held chunks once and reads the header block, which ends at `end`. */
  private release(end: number): Buffer {
    const joined = Buffer.concat(this.header!, this.headerLength);
    this.header = undefined;
    const { info, removed } = inspectHeaders(joined.subarray(0, end));
    this.headerInfo = info;
    if (removed.length === 0) return joined;
    const kept: Buffer[] = [];
    let at = 0;
    for (const [start, stop] of removed) {
      kept.push(joined.subarray(at, start));
      at = stop;
    }
    kept.push(joined.subarray(at));
    return Buffer.concat(kept);
  }

  /**
   * Where the header block ends in the held bytes plus `next` (the offset just past its last
   * field's CRLF), or -1. Only `next` is searched: how much of CRLFCRLF the held bytes end
   * with is kept in `matched`.
   */
  private findHeaderEnd(next: Buffer): number {
    const before = this.headerLength;
    if (before === 0) this.firstByte = next[0]!;
    // a message that starts with an empty line has no headers
    if (before < 2 && before + next.length >= 2 && this.firstByte === CR && next[1 - before] === LF) return 0;
    let state = this.matched;
    const head = Math.min(next.length, 3);
    for (let i = 0; i < head; i++) {
      state = stepMatch(state, next[i]!);
      if (state === 4) return before + i - 1;
    }
    const at = next.indexOf(HEADER_END);
    if (at !== -1) return before + at + 2;
    if (next.length > 3) {
      // a partial match is at most 3 bytes long, so it lies within the last 3
      state = 0;
      for (let i = next.length - 3; i < next.length; i++) state = stepMatch(state, next[i]!);
    }
    this.matched = state;
    return -1;
  }

  private fixLineEndings(chunk: Buffer): Buffer {
    // a CR that ended the last chunk was written as CRLF already: its LF is dropped
    const start = this.lastWasCr && chunk[0] === LF ? 1 : 0;
    this.lastWasCr = false;
    if (isClean(chunk, start)) return start === 0 ? chunk : chunk.subarray(start);
    const out = Buffer.allocUnsafe((chunk.length - start) * 2);
    let o = 0;
    let prevCr = false;
    for (let i = start; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === CR || (c === LF && !prevCr)) {
        out[o++] = CR;
        out[o++] = LF;
      } else if (c !== LF) {
        out[o++] = c;
      }
      prevCr = c === CR;
    }
    this.lastWasCr = prevCr;
    return out.subarray(0, o);
  }
}

/** One step of matching CRLFCRLF: the matched length after `byte` (a mismatched CR starts a new match). */
function stepMatch(state: number, byte: number): number {
  if (byte === HEADER_END[state]) return state + 1;
  return byte === CR ? 1 : 0;
}

/** Whether every CR and LF from `start` on is part of a CRLF inside the chunk (the common case: no copy). */
function isClean(chunk: Buffer, start: number): boolean {
  for (let i = chunk.indexOf(CR, start); i !== -1; i = chunk.indexOf(CR, i + 2)) if (chunk[i + 1] !== LF) return false;
  for (let i = chunk.indexOf(LF, start); i !== -1; i = chunk.indexOf(LF, i + 1)) if (i === start || chunk[i - 1] !== CR) return false;
  return true;
}

const LABEL_NAMES: ReadonlySet<string> = new Set(LABEL_HEADERS);

/**
 * The fields the pipeline needs from a header block (CRLF line endings): one pass over its
 * lines; a line starting with space or tab continues the field before it (RFC 5322 2.2.3:
 * unfolding removes only the CRLF). `removed`: the byte ranges of the label fields, each from
 * its name to the CRLF ending its last line, in order.
 */
function inspectHeaders(block: Buffer): { info: HeaderInfo; removed: Array<[number, number]> } {
  // latin1: one character per byte, so offsets in the text are offsets in the block
  const text = block.toString('latin1');
  const from: string[] = [];
  const sender: string[] = [];
  const resent: Array<HeaderInfo['resent'][number]> = [];
  let hasMessageId = false;
  let messageId: string | undefined;
  let hasDate = false;
  let malformedField = false;
  /** Whether the last unfolded line was a field (name and colon), which a folded line may continue. */
  let inField = false;
  const labels = new Map<LabelHeader, string[]>();
  const removed: Array<[number, number]> = [];
  let current: ((value: string) => void) | undefined;
  let value = '';
  /** Where the label field being read started (-1: none); it ends where the next field starts. */
  let labelStart = -1;
  const finish = (at: number) => {
    current?.(value.trim());
    current = undefined;
    if (labelStart !== -1) removed.push([labelStart, at]);
    labelStart = -1;
  };
  let offset = 0;
  for (const line of text.split('\r\n')) {
    const lineStart = offset;
    offset += line.length + 2;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!inField) malformedField = true;
      if (current) value += line;
      continue;
    }
    finish(lineStart);
    const colon = line.indexOf(':');
    inField = colon !== -1;
    if (colon === -1) continue;
    const name = headerFieldName(line, colon);
    if (!isFieldName(name)) malformedField = true;
    if (LABEL_NAMES.has(name)) {
      const label = name as LabelHeader;
      labelStart = lineStart;
      let values = labels.get(label);
      if (!values) labels.set(label, (values = []));
      const into = values;
      current = (v) => into.push(v);
    }
    if (name === 'message-id') {
      hasMessageId = true;
      current = (v) => (messageId ??= v.slice(0, 998));
    } else if (name === 'date') hasDate = true;
    else if (name === 'from') current = (v) => from.push(v);
    else if (name === 'sender') current = (v) => sender.push(v);
    // RFC 5322 3.6.6: the resender is shown as the author by some readers, so it is held to the same rule
    else if (name === 'resent-from' || name === 'resent-sender') current = (v) => resent.push({ name, value: v });
    if (current) value = line.slice(colon + 1);
  }
  finish(block.length);
  return { info: { hasMessageId, ...(messageId ? { messageId } : {}), hasDate, from, sender, resent, malformedField, labels }, removed };
}

