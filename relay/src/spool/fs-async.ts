import fs from 'node:fs';
import { promisify } from 'node:util';

/**
 * Promise forms of the fd-level calls the spool uses. The callback API avoids FileHandle's
 * per-call overhead on the hot path (several calls per accepted message).
 */
export const open = promisify(fs.open);
export const close = promisify(fs.close);
export function write(fd: number, buffer: Buffer, offset: number, length: number, position: number | null): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}
export function writev(fd: number, buffers: Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.writev(fd, buffers, position, (err, n) => (err ? reject(err) : resolve(n))));
}
export function read(fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}
export const fsync = promisify(fs.fsync);
export const fdatasync = promisify(fs.fdatasync);
export const ftruncate = promisify(fs.ftruncate);

/** Writes every buffer at `position`, continuing after short writes. */
export async function writevAll(fd: number, buffers: Buffer[], position: number): Promise<void> {
  let pos = position;
  let rest = buffers;
  while (rest.length > 0) {
    const written = await writev(fd, rest, pos);
    pos += written;
    let skip = written;
    let i = 0;
    while (i < rest.length && skip >= rest[i]!.length) {
      skip -= rest[i]!.length;
      i++;
    }
    rest = rest.slice(i);
    if (skip > 0 && rest.length > 0) rest = [rest[0]!.subarray(skip), ...rest.slice(1)];
  }
}

export async function readExactly(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = await read(fd, buf, done, length - done, position + done);
    if (n === 0) throw Object.assign(new Error('unexpected end of spool file'), { code: 'ERELAY_SPOOL_IO' });
    done += n;
  }
  return buf;
}

/** The blocking form, for a single message's metadata (Spool.get of a paged-out message). */
export function readExactlySync(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw Object.assign(new Error('unexpected end of spool file'), { code: 'ERELAY_SPOOL_IO' });
    done += n;
  }
  return buf;
}

/** Makes a directory entry (a new, renamed or removed file) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fd = await open(dir, 'r');
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
}
