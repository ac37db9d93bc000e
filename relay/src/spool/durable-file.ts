import { dirname, join } from 'node:path';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { close, fsync, fsyncDir, open } from './fs-async.ts';

/**
 * Small state files kept beside the spool (pauses, counters, the VERP key): written whole to a
 * temporary name, fsynced, renamed over the old one, and the directory fsynced, so a power cut
 * leaves either the old or the new content.
 */
export async function writeDurable(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, data, { mode });
  const fd = await open(tmp, 'r+');
  try {
    await fsync(fd);
  } finally {
    await close(fd);
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/** The file's content, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Creates `parent/name` if needed and makes its directory entry durable. */
export async function ensureDir(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  await fsyncDir(parent);
  return dir;
}
