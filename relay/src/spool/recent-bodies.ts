/**
 * Inline bodies just committed, kept for their first delivery attempt, which usually starts
 * within milliseconds: reading them back from the segment cost a file read per message
 * (~4% of the relay's CPU per relayed message). The bytes are the ones that were fsynced, so
 * delivery sends exactly what is on disk. Bounded by bytes, oldest dropped first; a body is
 * handed out once (a retry minutes later reads the segment).
 */
export class RecentBodies {
  private readonly bodies = new Map<string, Buffer>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  put(id: string, body: Buffer): void {
    if (body.length > this.maxBytes) return;
    this.drop(id);
    this.bodies.set(id, body);
    this.bytes += body.length;
    for (const [oldest, b] of this.bodies) {
      if (this.bytes <= this.maxBytes) break;
      this.bodies.delete(oldest);
      this.bytes -= b.length;
    }
  }

  take(id: string): Buffer | undefined {
    const body = this.bodies.get(id);
    if (body) this.drop(id);
    return body;
  }

  drop(id: string): void {
    const body = this.bodies.get(id);
    if (!body) return;
    this.bodies.delete(id);
    this.bytes -= body.length;
  }

  get size(): number {
    return this.bytes;
  }
}
