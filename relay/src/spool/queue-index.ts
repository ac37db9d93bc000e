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
  /** The slot holds a queued message. */
  Alive: 64,
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
/** Queue ids as newQueueId makes them: two halves of 8 base-36 digits, each exact in a double. */
const QUEUE_ID = /^[0-9A-Z]{16}$/;
const OTHER = -1;

function hash(hi: number, lo: number): number {
  const a = (lo >>> 0) ^ Math.imul((lo / 2 ** 32) | 0, 0x85ebca6b);
  const b = (hi >>> 0) ^ Math.imul((hi / 2 ** 32) | 0, 0xc2b2ae35);
  const h = Math.imul(a ^ Math.imul(b, 0x27d4eb2d), 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

function half(digits: number): string {
  return digits.toString(36).toUpperCase().padStart(8, '0');
}

/**
 * What the spool keeps in memory for every queued message, in typed arrays (~70 bytes a
 * message): a million messages queued for a dead destination as JavaScript objects cost
 * ~1.6 KiB each (metadata, recipients, their strings), far more than a pod has. The full
 * metadata stays in the segments and is read back when the message is due (Spool page-in).
 * Queue ids are kept as two numbers in an open-addressing table (linear probing), not as
 * strings in a Map, which cost ~100 bytes a message more; ids of another shape (none are
 * made today) go to a Map. Slots of messages that left are reused.
 */
export class QueueIndex {
  private count = 0;
  /** Slots ever used; every live slot is below it. */
  private high = 0;
  private hi = new Float64Array(INITIAL);
  private lo = new Float64Array(INITIAL);
  /** slot + 1 of each id by hash, 0 where empty; at most half full. */
  private table = new Int32Array(INITIAL * 2);
  private readonly others = new Map<string, number>();
  private readonly otherIds = new Map<number, string>();
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
    return this.count;
  }

  slot(id: string): number | undefined {
    if (!QUEUE_ID.test(id)) return this.others.get(id);
    const hi = parseInt(id.slice(0, 8), 36);
    const lo = parseInt(id.slice(8), 36);
    const mask = this.table.length - 1;
    for (let i = hash(hi, lo) & mask; ; i = (i + 1) & mask) {
      const v = this.table[i]!;
      if (v === 0) return undefined;
      if (this.hi[v - 1] === hi && this.lo[v - 1] === lo) return v - 1;
    }
  }

  id(slot: number): string {
    return this.hi[slot] === OTHER ? this.otherIds.get(slot)! : half(this.hi[slot]!) + half(this.lo[slot]!);
  }

  alive(slot: number): boolean {
    return slot < this.high && (this.flags[slot]! & Flag.Alive) !== 0;
  }

  /** Live slots, in no particular order (slots are reused). */
  *slots(): Generator<number> {
    for (let slot = 0; slot < this.high; slot++) if ((this.flags[slot]! & Flag.Alive) !== 0) yield slot;
  }

  /** Live messages as [id, slot], in no particular order. */
  *entries(): Generator<[string, number]> {
    for (const slot of this.slots()) yield [this.id(slot), slot];
  }

  add(id: string, f: IndexFields): number {
    const slot = this.free.pop() ?? this.high++;
    if (slot >= this.nextAt.length) this.grow();
    if (QUEUE_ID.test(id)) {
      if ((this.count + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
      this.hi[slot] = parseInt(id.slice(0, 8), 36);
      this.lo[slot] = parseInt(id.slice(8), 36);
      const mask = this.table.length - 1;
      let i = hash(this.hi[slot]!, this.lo[slot]!) & mask;
      while (this.table[i] !== 0) i = (i + 1) & mask;
      this.table[i] = slot + 1;
    } else {
      this.hi[slot] = OTHER;
      this.others.set(id, slot);
      this.otherIds.set(slot, id);
    }
    this.count++;
    this.nextAt[slot] = f.nextAt;
    this.createdAt[slot] = f.createdAt;
    this.msgSeg[slot] = f.msgSeg;
    this.msgOff[slot] = f.msgOff;
    this.metaLen[slot] = f.metaLen;
    this.stateSeg[slot] = 0;
    this.stateOff[slot] = 0;
    this.stateLen[slot] = 0;
    this.flags[slot] = f.flags | Flag.Alive;
    this.domain[slot] = this.domainKey(f.sendingDomain);
    return slot;
  }

  remove(id: string): void {
    const slot = this.slot(id);
    if (slot === undefined) return;
    if (this.hi[slot] === OTHER) {
      this.others.delete(id);
      this.otherIds.delete(slot);
    } else {
      this.unhash(slot);
    }
    this.flags[slot] = 0;
    this.count--;
    this.free.push(slot);
  }

  /** Takes a slot out of the table, moving later entries of its probe run back (no tombstones). */
  private unhash(slot: number): void {
    const mask = this.table.length - 1;
    let i = hash(this.hi[slot]!, this.lo[slot]!) & mask;
    while (this.table[i] !== slot + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; this.table[j] !== 0; j = (j + 1) & mask) {
      const v = this.table[j]!;
      const home = hash(this.hi[v - 1]!, this.lo[v - 1]!) & mask;
      // v may move back to i unless its home lies cyclically in (i, j]
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!stays) {
        this.table[i] = v;
        i = j;
      }
    }
    this.table[i] = 0;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size);
    const mask = size - 1;
    for (const slot of this.slots()) {
      if (this.hi[slot] === OTHER) continue;
      let i = hash(this.hi[slot]!, this.lo[slot]!) & mask;
      while (this.table[i] !== 0) i = (i + 1) & mask;
      this.table[i] = slot + 1;
    }
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
    this.hi = grow(this.hi, (k) => new Float64Array(k));
    this.lo = grow(this.lo, (k) => new Float64Array(k));
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
