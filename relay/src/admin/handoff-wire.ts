import { RelayError } from '../errors.ts';
import { parseMessageMeta } from '../spool/parse-meta.ts';
import type { MessageMeta } from '../spool/types.ts';

/**
 * The handoff wire format, version 1 (README "Scaling down: the drain"): how a draining relay
 * pod hands its queued messages to a peer over `POST /v1/queue/import`. The request body is a
 * sequence of frames, each a header line and the message body:
 *
 *   {"v":1,"origin":"<pod>","meta":{…},"adminHold":true}\n<meta.size bytes of body>
 *
 * `meta` is the message's spool metadata as the spool persists it (id, from, recipients with
 * their states, createdAt — the expiry derives from it —, attempts, nextAttemptAt, the sending,
 * signing and header-From domains, origin and every optional field the spool keeps), read
 * with the spool's own record parser, so the receiver keeps exactly what a restart would.
 * `adminHold` is sent apart because the spool keeps it in its state records, not in the meta.
 * The handoff id `<origin>/<meta.id>` makes a retried handoff idempotent.
 */
export const HANDOFF_CONTENT_TYPE = 'application/vnd.mail-relay.handoff.v1';
export const HANDOFF_VERSION = 1;
/** A header line holds the recipients' states: 1 MiB is far above maxRecipients × an address and a reply. */
export const MAX_HEADER_BYTES = 2 ** 20;
/** Messages per import request; the sender batches fewer so that one group commit covers a batch. */
export const MAX_FRAMES = 256;

export interface HandoffHeader {
  /** The pod the message comes from (its host name). */
  readonly origin: string;
  readonly meta: MessageMeta;
  readonly adminHold: boolean;
}

const ORIGIN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const QUEUE_ID = /^[0-9A-Z]{16}$/;

export function handoffId(origin: string, queueId: string): string {
  return `${origin}/${queueId}`;
}

/** The header of a frame, checked once here; throws with what is wrong. */
export function parseHandoffHeader(value: unknown): HandoffHeader {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('frame header: not an object');
  const h = value as Record<string, unknown>;
  if (h.v !== HANDOFF_VERSION) throw invalid(`frame header: v must be ${HANDOFF_VERSION}`);
  if (typeof h.origin !== 'string' || !ORIGIN.test(h.origin)) throw invalid('frame header: bad origin');
  if (h.adminHold !== undefined && typeof h.adminHold !== 'boolean') throw invalid('frame header: adminHold must be a boolean');
  // the body file name is the sender's business: the receiver stores the body its own way
  const raw = typeof h.meta === 'object' && h.meta !== null ? { ...(h.meta as Record<string, unknown>), bodyFile: undefined } : h.meta;
  let meta: MessageMeta;
  try {
    meta = parseMessageMeta(raw);
  } catch (err) {
    throw invalid(`frame header: ${(err as Error).message}`);
  }
  if (!QUEUE_ID.test(meta.id)) throw invalid('frame header: bad meta.id');
  if (!Number.isInteger(meta.size) || meta.size < 0) throw invalid('frame header: bad meta.size');
  if (!meta.recipients.some((r) => r.status === 'pending')) throw invalid('frame header: no pending recipient');
  return { origin: h.origin, meta, adminHold: h.adminHold === true };
}

/** One frame: the header line and the body. `meta` is the sender's spool meta. */
export function encodeFrame(origin: string, meta: MessageMeta, body: Buffer): Buffer[] {
  const { held: _held, adminHold, bodyFile: _bodyFile, ...stored } = meta;
  const header = { v: HANDOFF_VERSION, origin, meta: { ...stored, size: body.length }, ...(adminHold ? { adminHold: true } : {}) };
  return [Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), body];
}

export type FrameEvent = { readonly kind: 'header'; readonly header: HandoffHeader } | { readonly kind: 'body'; readonly chunk: Buffer } | { readonly kind: 'end' };

/**
 * Splits a request body into frames as it streams, in linear time and with at most one header
 * line buffered: `push` returns the events a chunk completes (a header, body pieces, the end of
 * a body). Throws on a malformed frame, an oversized header or a body longer than `maxSize`.
 */
export class FrameReader {
  private header: Buffer[] = [];
  private headerBytes = 0;
  private bodyLeft = -1;
  frames = 0;

  constructor(private readonly maxSize: number) {}

  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.bodyLeft >= 0) {
        const n = Math.min(this.bodyLeft, chunk.length - at);
        if (n > 0) events.push({ kind: 'body', chunk: chunk.subarray(at, at + n) });
        at += n;
        this.bodyLeft -= n;
        if (this.bodyLeft === 0) this.finishBody(events);
        continue;
      }
      const nl = chunk.indexOf(0x0a, at);
      const end = nl < 0 ? chunk.length : nl;
      this.headerBytes += end - at;
      if (this.headerBytes > MAX_HEADER_BYTES) throw invalid(`frame header longer than ${MAX_HEADER_BYTES} bytes`);
      this.header.push(chunk.subarray(at, end));
      at = end;
      if (nl < 0) break;
      at = nl + 1;
      const header = this.takeHeader();
      if (++this.frames > MAX_FRAMES) throw invalid(`more than ${MAX_FRAMES} messages in one request`);
      if (header.meta.size > this.maxSize) throw invalid(`message ${header.meta.id} is larger than limits.maxMessageSize`);
      events.push({ kind: 'header', header });
      this.bodyLeft = header.meta.size;
      if (this.bodyLeft === 0) this.finishBody(events);
    }
    return events;
  }

  /** The request ended: throws when it ended inside a frame. */
  finish(): void {
    if (this.bodyLeft >= 0 || this.headerBytes > 0) throw invalid('request ended inside a frame');
  }

  private finishBody(events: FrameEvent[]): void {
    this.bodyLeft = -1;
    events.push({ kind: 'end' });
  }

  private takeHeader(): HandoffHeader {
    const text = Buffer.concat(this.header).toString('utf8');
    this.header = [];
    this.headerBytes = 0;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw invalid('frame header is not JSON');
    }
    return parseHandoffHeader(value);
  }
}

function invalid(message: string): RelayError {
  return new RelayError('ERELAY_HANDOFF_INVALID', message);
}
