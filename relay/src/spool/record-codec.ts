import { crc32 } from 'node:zlib';

/**
 * The spool's on-disk record: a 16-byte header, then the payload.
 *
 *   0  u32 magic 'MRS1'   4 u8 type, 3 bytes zero   8 u32 payload length   12 u32 crc32(type, payload)
 *
 * The CRC covers the type byte and the payload, so a torn or rotted record is detected on
 * recovery instead of being replayed. MESSAGE payloads are `u32 metaLength, meta JSON, body`;
 * STATE and REMOVE payloads are JSON.
 */

export const MAGIC = 0x4d525331;
export const HEADER_SIZE = 16;
/** Larger payloads are not produced by the spool, so a bigger length field means corruption. */
export const MAX_PAYLOAD = 64 * 2 ** 20;

export const RecordType = { Message: 1, State: 2, Remove: 3 } as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

const TYPE_BYTES: Record<number, Buffer> = {
  1: Buffer.from([1]),
  2: Buffer.from([2]),
  3: Buffer.from([3]),
};

export function isRecordType(value: number): value is RecordType {
  return value === 1 || value === 2 || value === 3;
}

function checksum(type: RecordType, parts: readonly Buffer[]): number {
  let crc = crc32(TYPE_BYTES[type]!);
  for (const part of parts) crc = crc32(part, crc);
  return crc;
}

/** The buffers of one record, to be written in order; the payload parts are not copied. */
export function encodeRecord(type: RecordType, payloadParts: readonly Buffer[]): Buffer[] {
  let length = 0;
  for (const part of payloadParts) length += part.length;
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header.writeUInt32BE(MAGIC, 0);
  header.writeUInt32BE(type << 24, 4);
  header.writeUInt32BE(length, 8);
  header.writeUInt32BE(checksum(type, payloadParts), 12);
  return [header, ...payloadParts];
}

export function encodeMessagePayload(meta: unknown, body: readonly Buffer[]): Buffer[] {
  const json = Buffer.from(JSON.stringify(meta));
  const prefix = Buffer.allocUnsafe(4);
  prefix.writeUInt32BE(json.length, 0);
  return [prefix, json, ...body];
}

export function encodeJsonRecord(type: RecordType, value: unknown): Buffer[] {
  return encodeRecord(type, [Buffer.from(JSON.stringify(value))]);
}

export interface RecordHeader {
  readonly type: RecordType;
  readonly length: number;
  readonly crc: number;
}

/** Reads a header at `offset`; undefined when it cannot be one (wrong magic, type or length). */
export function decodeHeader(buf: Buffer, offset: number): RecordHeader | undefined {
  if (buf.length - offset < HEADER_SIZE) return undefined;
  if (buf.readUInt32BE(offset) !== MAGIC) return undefined;
  const typeWord = buf.readUInt32BE(offset + 4);
  const type = typeWord >>> 24;
  if ((typeWord & 0xffffff) !== 0 || !isRecordType(type)) return undefined;
  const length = buf.readUInt32BE(offset + 8);
  if (length > MAX_PAYLOAD) return undefined;
  return { type, length, crc: buf.readUInt32BE(offset + 12) };
}

export function verifyPayload(header: RecordHeader, payload: Buffer): boolean {
  return checksum(header.type, [payload]) === header.crc;
}

/** Splits a MESSAGE payload; throws when the meta length or JSON is malformed. */
export function decodeMessagePayload(payload: Buffer): { meta: unknown; bodyOffset: number; bodyLength: number } {
  if (payload.length < 4) throw new Error('message record too short');
  const metaLength = payload.readUInt32BE(0);
  if (metaLength > payload.length - 4) throw new Error('message meta length out of range');
  const meta: unknown = JSON.parse(payload.subarray(4, 4 + metaLength).toString('utf8'));
  return { meta, bodyOffset: 4 + metaLength, bodyLength: payload.length - 4 - metaLength };
}
