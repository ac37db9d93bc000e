/**
 * Inline bodies just committed, kept for their first delivery attempt, which usually starts
 * within milliseconds: reading them back from the segment cost a file read per message
 * (~4% of the relay's CPU per relayed message). The bytes are the ones that were fsynced, so
 * delivery sends exactly what is on disk.
 *
 * The bodies live in one ring buffer, overwritten oldest first. Keeping them as separate
 * Buffers pinned thousands of small allocations spread over the malloc heap, which could then
 * not be returned: with 100,000 messages queued RSS grew by ~100 MiB for 8 MiB of bodies. A
 * body is handed out once, as a copy (the ring moves on while it is being sent); a retry
 * minutes later reads the segment.
 */
export class RecentBodies {
  private readonly ring: Buffer;
  /** Bytes ever written to the ring; a body's start is an offset in this sequence. */
  private written = 0;
  private readonly index = new Map<string, { readonly start: number; readonly length: number }>();

  constructor(size: number) {
    this.ring = Buffer.allocUnsafeSlow(size);
  }

  put(id: string, chunks: readonly Buffer[], length: number): void {
    const size = this.ring.length;
    if (length === 0 || length > size) return;
    // a body never wraps around the end: skip the tail instead
    if ((this.written % size) + length > size) this.written += size - (this.written % size);
    let at = this.written % size;
    for (const chunk of chunks) at += chunk.copy(this.ring, at);
    this.index.set(id, { start: this.written, length });
    this.written += length;
    for (const [oldest, body] of this.index) {
      if (this.intact(body.start)) break;
      this.index.delete(oldest);
    }
  }

  take(id: string): Buffer | undefined {
    const body = this.index.get(id);
    if (!body) return undefined;
    this.index.delete(id);
    if (!this.intact(body.start)) return undefined;
    const at = body.start % this.ring.length;
    return Buffer.from(this.ring.subarray(at, at + body.length));
  }

  drop(id: string): void {
    this.index.delete(id);
  }

  /** How many bodies are held. */
  get count(): number {
    return this.index.size;
  }

  /** True while nothing written since `start` has reached the body's bytes again. */
  private intact(start: number): boolean {
    return this.written - start <= this.ring.length;
  }
}
