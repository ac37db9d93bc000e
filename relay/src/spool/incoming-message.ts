import { join } from 'node:path';
import { unlink } from 'node:fs/promises';
import { close, fsync, open, write } from './fs-async.ts';

/**
 * The body of a message being received. Small bodies stay in memory and go into the segment
 * with their metadata in one write; a body that grows past `inlineLimit` spills to its own
 * file under large/ as it streams, so a 25 MiB message never sits in memory whole.
 */
export class IncomingMessage {
  private chunks: Buffer[] = [];
  private fd = -1;
  private filePosition = 0;
  size = 0;
  private finished = false;

  constructor(
    readonly id: string,
    private readonly largeDir: string,
    private readonly inlineLimit: number,
  ) {}

  get spilled(): boolean {
    return this.fd >= 0;
  }

  get fileName(): string {
    return `${this.id}.eml`;
  }

  get filePath(): string {
    return join(this.largeDir, this.fileName);
  }

  /** Appends bytes; awaiting it gives backpressure while the body goes to disk. */
  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.size += chunk.length;
    if (this.fd < 0) {
      this.chunks.push(chunk);
      if (this.size <= this.inlineLimit) return;
      this.fd = await open(this.filePath, 'wx');
      const buffered = this.chunks;
      this.chunks = [];
      for (const part of buffered) await this.writeToFile(part);
      return;
    }
    await this.writeToFile(chunk);
  }

  private async writeToFile(chunk: Buffer): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      done += await write(this.fd, chunk, done, chunk.length - done, this.filePosition + done);
    }
    this.filePosition += chunk.length;
  }

  /** The in-memory body (inline messages only). */
  inlineBody(): Buffer[] {
    return this.chunks;
  }

  /** Makes a spilled body durable; its directory entry is synced with the commit batch. */
  async seal(): Promise<void> {
    if (this.fd < 0) return;
    await fsync(this.fd);
    await close(this.fd);
    this.fd = -2;
    this.finished = true;
  }

  /** Drops a body that will not be committed. Safe to call more than once. */
  async discard(): Promise<void> {
    this.chunks = [];
    if (this.fd >= 0) await close(this.fd).catch(() => undefined);
    if (this.fd !== -1) await unlink(this.filePath).catch(() => undefined);
    this.fd = -1;
    this.finished = true;
  }

  get done(): boolean {
    return this.finished;
  }
}
