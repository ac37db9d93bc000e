/** Bits of QueueIndex.flags. */
export const Flag = {
  /** Handed to delivery or claimed by an admin action. */
  Leased: 1,
  /** Parked because its sending domain is paused (memory only, like MessageMeta.held). */
  Held: 2,
  AdminHold: 4,
  /** attempts > 0 (what `deferred` needs to know). */
  Attempted: 8,
  /** Taken off the due heap, waiting in the spool's page-in line. */
  Staged: 16,
  /** The body is in large/ID.eml, not in the MESSAGE record. */
  LargeBody: 32,
} as const;

/** Where a message's records are and what scheduling needs of it, written on every change. */
export interface IndexFields {
  readonly nextAt: number;
  readonly createdAt: number;
  /** The MESSAGE record: its segment, the offset of its header, the length of its meta JSON. */
  readonly msgSeg: number;
  readonly msgOff: number;
  readonly metaLen: number;
  readonly flags: number;
  readonly sendingDomain: string | undefined;
}

const INITIAL = 1024;

/**
 * What the spool keeps in memory for every queued message, in typed arrays (~50 bytes a
 * message plus the id): a million messages queued for a dead destination as JavaScript objects
 * cost ~1.6 KiB each (metadata, recipients, their strings), far more than a pod has. The full
 * metadata stays in the segments and is read back when the message is due (Spool page-in).
 * Slots of messages that left are reused.
 */
export class QueueIndex {
  private readonly slots = new Map<string, number>();
  private ids: Array<string | undefined> = [];
  private readonly free: number[] = [];
  private readonly domainKeys = new Map<string, number>();
  private readonly domainNames: Array<string | undefined> = [undefined];
  nextAt = new Float64Array(INITIAL);
  createdAt = new Float64Array(INITIAL);
  msgSeg = new Uint32Array(INITIAL);
  msgOff = new Uint32Array(INITIAL);
  metaLen = new Uint32Array(INITIAL);
  /** The newest STATE record, if any (stateLen 0: none, the MESSAGE record is the newest). */
  stateSeg = new Uint32Array(INITIAL);
  stateOff = new Uint32Array(INITIAL);
  stateLen = new Uint32Array(INITIAL);
  flags = new Uint8Array(INITIAL);
  private domain = new Uint32Array(INITIAL);

  get size(): number {
    return this.slots.size;
  }

  slot(id: string): number | undefined {
    return this.slots.get(id);
  }

  id(slot: number): string {
    return this.ids[slot]!;
  }

  /** Live slots, in the order their messages were added (arrival order, replay order). */
  entries(): IterableIterator<[string, number]> {
    return this.slots.entries();
  }

  add(id: string, f: IndexFields): number {
    const slot = this.free.pop() ?? this.ids.length;
    if (slot >= this.nextAt.length) this.grow();
    this.ids[slot] = id;
    this.slots.set(id, slot);
    this.nextAt[slot] = f.nextAt;
    this.createdAt[slot] = f.createdAt;
    this.msgSeg[slot] = f.msgSeg;
    this.msgOff[slot] = f.msgOff;
    this.metaLen[slot] = f.metaLen;
    this.stateSeg[slot] = 0;
    this.stateOff[slot] = 0;
    this.stateLen[slot] = 0;
    this.flags[slot] = f.flags;
    this.domain[slot] = this.domainKey(f.sendingDomain);
    return slot;
  }

  remove(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    this.slots.delete(id);
    this.ids[slot] = undefined;
    this.free.push(slot);
  }

  /** The segment of the newest record (the one that decides the message's state on replay). */
  newestSegment(slot: number): number {
    return this.stateLen[slot]! > 0 ? this.stateSeg[slot]! : this.msgSeg[slot]!;
  }

  sendingDomain(slot: number): string | undefined {
    return this.domainNames[this.domain[slot]!];
  }

  has(slot: number, flag: number): boolean {
    return (this.flags[slot]! & flag) !== 0;
  }

  set(slot: number, flag: number, on: boolean): void {
    this.flags[slot] = on ? this.flags[slot]! | flag : this.flags[slot]! & ~flag;
  }

  /** Sending domains are the configured ones: few, so each is stored once and named by number. */
  private domainKey(name: string | undefined): number {
    if (name === undefined) return 0;
    let key = this.domainKeys.get(name);
    if (key === undefined) {
      key = this.domainNames.length;
      this.domainNames.push(name);
      this.domainKeys.set(name, key);
    }
    return key;
  }

  private grow(): void {
    const n = this.nextAt.length * 2;
    const grow = <T extends Float64Array | Uint32Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const next = make(n);
      next.set(old);
      return next;
    };
    this.nextAt = grow(this.nextAt, (k) => new Float64Array(k));
    this.createdAt = grow(this.createdAt, (k) => new Float64Array(k));
    this.msgSeg = grow(this.msgSeg, (k) => new Uint32Array(k));
    this.msgOff = grow(this.msgOff, (k) => new Uint32Array(k));
    this.metaLen = grow(this.metaLen, (k) => new Uint32Array(k));
    this.stateSeg = grow(this.stateSeg, (k) => new Uint32Array(k));
    this.stateOff = grow(this.stateOff, (k) => new Uint32Array(k));
    this.stateLen = grow(this.stateLen, (k) => new Uint32Array(k));
    this.flags = grow(this.flags, (k) => new Uint8Array(k));
    this.domain = grow(this.domain, (k) => new Uint32Array(k));
  }
}
