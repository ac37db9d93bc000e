import { HEADER_SIZE, MAGIC, decodeHeader, verifyPayload, type RecordType } from './record-codec.ts';

export interface ScannedRecord {
  readonly type: RecordType;
  /** Offset of the record header in the segment. */
  readonly offset: number;
  readonly payload: Buffer;
}

export interface BadRange {
  readonly start: number;
  readonly end: number;
  /** True when nothing valid follows: a torn tail from a crash mid-append (or rot at the end). */
  readonly tail: boolean;
}

const MAGIC_BYTES = Buffer.alloc(4);
MAGIC_BYTES.writeUInt32BE(MAGIC, 0);

function validAt(buf: Buffer, offset: number): ScannedRecord | undefined {
  const header = decodeHeader(buf, offset);
  if (!header) return undefined;
  const end = offset + HEADER_SIZE + header.length;
  if (end > buf.length) return undefined;
  const payload = buf.subarray(offset + HEADER_SIZE, end);
  if (!verifyPayload(header, payload)) return undefined;
  return { type: header.type, offset, payload };
}

/**
 * Walks a segment's records. Bytes that are not a valid record are reported as a bad range,
 * and the scan resynchronises on the next valid record, so one rotten record costs only itself.
 */
export function scanSegment(buf: Buffer): { records: ScannedRecord[]; bad: BadRange[] } {
  const records: ScannedRecord[] = [];
  const bad: BadRange[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const record = validAt(buf, offset);
    if (record) {
      records.push(record);
      offset += HEADER_SIZE + record.payload.length;
      continue;
    }
    let next = buf.indexOf(MAGIC_BYTES, offset + 1);
    while (next !== -1 && !validAt(buf, next)) next = buf.indexOf(MAGIC_BYTES, next + 1);
    const end = next === -1 ? buf.length : next;
    bad.push({ start: offset, end, tail: next === -1 });
    offset = end;
  }
  return { records, bad };
}
