/**
 * One copy of each string that repeats across queued messages: senders, client addresses, HELO
 * names, domains and the replies of a failing destination. With 100,000 messages queued the
 * copies were a third of the live heap, and a substring can hold its parent alive: a From:
 * domain cut from the header block kept the whole block. Pooled strings are flat copies.
 * Bounded: when full it starts over (a unique value, such as a remote reply naming a queue id,
 * costs a slot, never a leak).
 */
export class StringPool {
  private readonly strings = new Map<string, string>();

  constructor(private readonly max = 4096) {}

  get(value: string): string {
    const pooled = this.strings.get(value);
    if (pooled !== undefined) return pooled;
    if (this.strings.size >= this.max) this.strings.clear();
    // through UTF-16 bytes: an exact copy that shares nothing with the original
    const copy = Buffer.from(value, 'utf16le').toString('utf16le');
    this.strings.set(copy, copy);
    return copy;
  }

  get size(): number {
    return this.strings.size;
  }
}
