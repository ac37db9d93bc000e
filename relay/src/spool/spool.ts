import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { access, mkdir, readFile, readdir, statfs, truncate, unlink, writeFile } from 'node:fs/promises';
import type { Logger } from '../log.ts';
import { RelayError, describeError } from '../errors.ts';
import { DueHeap } from './due-heap.ts';
import { Flag, QueueIndex } from './queue-index.ts';
import { close, fsyncDir, open, read } from './fs-async.ts';
import { IncomingMessage } from './incoming-message.ts';
import { RecentBodies } from './recent-bodies.ts';
import { StringPool } from './string-pool.ts';
import { RecordType, HEADER_SIZE, decodeMessagePayload, encodeJsonRecord, encodeMessagePayload, encodeRecord } from './record-codec.ts';
import { scanSegment } from './scan-segment.ts';
import { SegmentLog, parseSegmentFileName, segmentFileName } from './segment-log.ts';
import { SpoolLock } from './spool-lock.ts';
import type { MessageMeta, MessageOrigin, MessageState, QueueStats, RecipientState, SpoolEntry } from './types.ts';
import { parseMessageMeta, parseMessageState } from './parse-meta.ts';

export interface SpoolOptions {
  readonly dir: string;
  readonly logger: Logger;
  /** Refuse new mail while the file system has less free space than this (bytes). */
  readonly minFreeSpace?: number;
  readonly maxSegmentSize?: number;
  /** Bodies up to this size are kept in memory while received and stored inline in a segment. */
  readonly inlineLimit?: number;
  /**
   * How many messages keep their full metadata in memory (Postfix's qmgr_message_active_limit).
   * Beyond it a message waiting for a retry is only an index entry; its metadata is read back
   * from its records when it is due, listed or claimed.
   */
  readonly activeLimit?: number;
  readonly now?: () => number;
}

/** Due messages taken off the heap ahead of `lease`, their metadata read from disk meanwhile. */
const STAGE_MAX = 1024;
/** Records read at once while paging in (the libuv pool has 4 threads; more only waits). */
const PAGE_IN_BATCH = 64;
/** A message whose records cannot be read back is tried again after this long, not in a loop. */
const PAGE_IN_RETRY_MS = 60_000;

export type CorruptKind = 'record' | 'torn_tail' | 'missing_body';

/**
 * The crash-safe queue (DESIGN.md "Spool"). Layout of `dir`:
 *
 *   lock                  one process per spool
 *   segments/NNNN.seg     append-only records: MESSAGE (meta + inline body), STATE, REMOVE
 *   large/ID.eml          bodies larger than inlineLimit, fsynced before their MESSAGE record
 *   corrupt/              unreadable bytes and metadata, moved aside on recovery, never dropped
 *
 * Every record is acknowledged only after group commit has fsynced it. The live set is indexed
 * in memory (QueueIndex: where each message's MESSAGE record and newest STATE record are, when
 * it is due) and rebuilt by replaying the segments on start-up; a segment is deleted once no
 * live message references it. Up to `activeLimit` messages also keep their full SpoolEntry in
 * memory (`resident`): new ones, leased ones, and every one while the queue is no larger. In a
 * larger queue a message that goes back to wait (deferred, held) drops its SpoolEntry
 * (page-out) and, once due, is read back from its two records (page-in) before it is leased,
 * so memory stays flat however many messages wait for a dead destination. Paging writes
 * nothing: the records on disk are the same as without it.
 *
 * Events: `message` (a new message was committed), `due` (paged-in messages can be leased),
 * `finished` (the final MessageMeta of a message that left the spool: no recipient pending),
 * `corrupt` (kind, path).
 */
export class Spool extends EventEmitter {
  private readonly index = new QueueIndex();
  private readonly resident = new Map<string, SpoolEntry>();
  private readonly refs = new Map<number, number>();
  private readonly due = new DueHeap();
  /** Ids taken off the heap in due order (Flag.Staged); `stagedHead` is the next one to lease. */
  private staged: string[] = [];
  private stagedHead = 0;
  private stagedLive = 0;
  private pagingIn = false;
  private recovering = true;
  private readonly activeLimit: number;
  /** Enough for the first attempt of every message in flight at thousands per second. */
  private readonly recent = new RecentBodies(8 * 2 ** 20);
  private readonly pool = new StringPool();
  /** Replies apart: unique ones (naming a remote queue id) would push the senders and domains out. */
  private readonly replies = new StringPool();
  private log!: SegmentLog;
  private lock!: SpoolLock;
  private freeBytes = Infinity;
  private spaceTimer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly segmentsDir: string;
  readonly largeDir: string;
  readonly corruptDir: string;
  private readonly now: () => number;
  private readonly inlineLimit: number;
  private readonly minFreeSpace: number;
  private readonly logger: Logger;

  private constructor(readonly options: SpoolOptions) {
    super();
    this.segmentsDir = join(options.dir, 'segments');
    this.largeDir = join(options.dir, 'large');
    this.corruptDir = join(options.dir, 'corrupt');
    this.now = options.now ?? Date.now;
    this.inlineLimit = options.inlineLimit ?? 256 * 1024;
    this.minFreeSpace = options.minFreeSpace ?? 0;
    this.activeLimit = options.activeLimit ?? 10_000;
    this.logger = options.logger;
  }

  /** Locks the directory, replays the segments and opens a fresh segment for appends. */
  static async open(options: SpoolOptions, onCorrupt?: (kind: CorruptKind) => void): Promise<Spool> {
    const spool = new Spool(options);
    if (onCorrupt) spool.on('corrupt', onCorrupt);
    await spool.init();
    return spool;
  }

  private async init(): Promise<void> {
    const { dir } = this.options;
    try {
      await mkdir(dir, { recursive: true });
      for (const sub of [this.segmentsDir, this.largeDir, this.corruptDir]) await mkdir(sub, { recursive: true });
      await fsyncDir(dir);
    } catch (err) {
      throw new RelayError('ERELAY_SPOOL_IO', `cannot create spool ${dir}: ${describeError(err)}`, { cause: err });
    }
    this.lock = await SpoolLock.acquire(dir);
    try {
      // built first so that recovery can read records back (missing bodies); appends start after
      this.log = new SegmentLog(this.segmentsDir, this.options.maxSegmentSize ?? 64 * 2 ** 20, (seg) => this.maybeRemoveSegment(seg));
      const last = await this.recover();
      this.recovering = false;
      await this.log.start(last + 1);
      await this.refreshFreeSpace();
      this.spaceTimer = setInterval(() => void this.refreshFreeSpace(), 1000);
      this.spaceTimer.unref();
    } catch (err) {
      await this.lock.release();
      throw err;
    }
  }

  // ---- receiving ---------------------------------------------------------------------------

  /** False while the disk is too full to take a message of `size` bytes (answer 452 4.3.1). */
  hasRoomFor(size = 0): boolean {
    return this.freeBytes - size >= this.minFreeSpace;
  }

  private async refreshFreeSpace(): Promise<void> {
    try {
      const s = await statfs(this.options.dir);
      this.freeBytes = s.bavail * s.bsize;
    } catch {
      // keep the last reading; a real write error still fails the commit
    }
  }

  newMessage(id: string): IncomingMessage {
    if (this.closed) throw new RelayError('ERELAY_SPOOL_CLOSED', 'spool is closed');
    return new IncomingMessage(id, this.largeDir, this.inlineLimit);
  }

  /**
   * Makes the message durable; resolves once its record and body are fsynced. Only then may
   * the caller acknowledge it. On failure the body is discarded and nothing was acknowledged.
   */
  async commit(incoming: IncomingMessage, meta: Omit<MessageMeta, 'id' | 'size' | 'bodyFile' | 'held'>): Promise<SpoolEntry> {
    if (this.closed) throw new RelayError('ERELAY_SPOOL_CLOSED', 'spool is closed');
    try {
      const spilled = incoming.spilled;
      if (spilled) await incoming.seal();
      const stored = { ...meta, id: incoming.id, size: incoming.size, ...(spilled ? { bodyFile: incoming.fileName } : {}) };
      const full = this.compact({ ...stored, held: false });
      const body = spilled ? [] : incoming.inlineBody();
      const payload = encodeMessagePayload(stored, body);
      const metaBytes = payload[0]!.length + payload[1]!.length;
      const loc = await this.log.append(encodeRecord(RecordType.Message, payload), spilled ? this.largeDir : undefined);
      const entry: SpoolEntry = {
        meta: full,
        body: spilled
          ? { file: incoming.fileName }
          : { segment: loc.segment, offset: loc.offset + HEADER_SIZE + metaBytes, length: incoming.size },
        stateSegment: loc.segment,
        leased: false,
      };
      if (!spilled) this.recent.put(full.id, body, incoming.size);
      this.insert(full, loc.segment, loc.offset, payload[1]!.length, this.resident.size < this.activeLimit ? entry : undefined);
      this.schedule(this.index.slot(full.id)!);
      this.emit('message', entry);
      return entry;
    } catch (err) {
      await incoming.discard();
      if (err instanceof RelayError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new RelayError('ERELAY_SPOOL_FULL', 'spool file system is full', { cause: err });
      throw new RelayError('ERELAY_SPOOL_IO', `spool write failed: ${code ?? describeError(err)}`, { cause: err });
    }
  }

  // ---- the delivery side -------------------------------------------------------------------

  get size(): number {
    return this.index.size;
  }

  /**
   * The message, if queued. A paged-out message is read back from its records here, blocking
   * for two small reads: meant for single messages (the admin API, tests), not for sweeps.
   * Unless leased, a paged-out message's entry is a snapshot: the spool does not keep it.
   */
  get(id: string): SpoolEntry | undefined {
    const slot = this.index.slot(id);
    if (slot === undefined) return undefined;
    return this.resident.get(id) ?? this.readEntrySync(slot);
  }

  /** Every live entry, in no particular order (paged-out ones read back one by one, as `get` does). */
  *values(): IterableIterator<SpoolEntry> {
    for (const [id, slot] of this.index.entries()) yield this.resident.get(id) ?? this.readEntrySync(slot);
  }

  /** When the earliest not-leased message becomes due, if any. */
  nextDueAt(): number | undefined {
    for (let i = this.stagedHead; i < this.staged.length; i++) {
      const slot = this.index.slot(this.staged[i]!);
      if (slot !== undefined && this.index.has(slot, Flag.Staged)) return this.index.nextAt[slot];
    }
    this.skipStale();
    return this.due.peekTime();
  }

  /**
   * Hands out up to `limit` messages due at `now`, oldest due first. A leased message is not
   * handed out again until `update` or `release` returns it. Due messages whose metadata is
   * still being read back wait for it, with the ones behind them: `due` is emitted once more
   * can be leased.
   */
  lease(limit: number, now = this.now()): SpoolEntry[] {
    const out: SpoolEntry[] = [];
    while (out.length < limit) {
      this.stage(now);
      const id = this.staged[this.stagedHead];
      if (id === undefined) break;
      const slot = this.index.slot(id);
      if (slot === undefined || !this.index.has(slot, Flag.Staged)) {
        this.stagedHead++; // left the spool or was claimed while it waited
        continue;
      }
      const entry = this.resident.get(id);
      if (!entry) break;
      this.stagedHead++;
      this.unstage(slot);
      this.index.set(slot, Flag.Leased, true);
      entry.leased = true;
      out.push(entry);
    }
    if (this.stagedHead > STAGE_MAX && this.stagedHead * 2 > this.staged.length) {
      this.staged = this.staged.slice(this.stagedHead);
      this.stagedHead = 0;
    }
    if (this.stagedLive > 0) void this.pageIn();
    return out;
  }

  /** Moves the earliest due messages from the heap to the page-in line, in due order. */
  private stage(now: number): void {
    while (this.stagedLive < STAGE_MAX) {
      this.skipStale();
      const time = this.due.peekTime();
      if (time === undefined || time > now) return;
      const { slot } = this.due.pop()!;
      this.index.set(slot, Flag.Staged, true);
      this.stagedLive++;
      this.staged.push(this.index.id(slot));
    }
  }

  private unstage(slot: number): void {
    if (!this.index.has(slot, Flag.Staged)) return;
    this.index.set(slot, Flag.Staged, false);
    this.stagedLive--;
  }

  private skipStale(): void {
    for (;;) {
      const time = this.due.peekTime();
      if (time === undefined) return;
      // a slot may have been reused by another message since: the time tells (or it is a harmless extra)
      const slot = this.due.peekSlot()!;
      if (this.index.alive(slot) && this.waiting(slot) && this.index.nextAt[slot] === time) return;
      this.due.pop();
    }
  }

  /** Neither leased, parked nor already staged: the message belongs on the due heap. */
  private waiting(slot: number): boolean {
    return !this.index.has(slot, Flag.Leased | Flag.Held | Flag.AdminHold | Flag.Staged);
  }

  /** Reads the metadata of staged messages that are not resident yet, a batch at a time. */
  private async pageIn(): Promise<void> {
    if (this.pagingIn) return;
    this.pagingIn = true;
    try {
      while (!this.closed) {
        const batch: number[] = [];
        for (let i = this.stagedHead; i < this.staged.length && batch.length < PAGE_IN_BATCH; i++) {
          const id = this.staged[i]!;
          const slot = this.index.slot(id);
          if (slot !== undefined && this.index.has(slot, Flag.Staged) && !this.resident.has(id) && !batch.includes(slot)) batch.push(slot);
        }
        if (batch.length === 0) break;
        await Promise.all(batch.map((slot) => this.pageInOne(slot)));
        this.emit('due');
      }
    } finally {
      this.pagingIn = false;
    }
  }

  private async pageInOne(slot: number): Promise<void> {
    const id = this.index.id(slot);
    const where = this.recordsOf(slot);
    try {
      const meta = await this.log.read(where.msgSeg, where.metaAt, where.metaLen);
      const state = where.stateLen > 0 ? await this.log.read(where.stateSeg, where.stateAt, where.stateLen) : undefined;
      // it may have changed meanwhile (claimed, updated, removed): then this read is stale
      if (this.index.slot(id) !== slot || !this.index.has(slot, Flag.Staged) || this.resident.has(id) || !sameRecords(where, this.recordsOf(slot))) return;
      this.resident.set(id, this.buildEntry(slot, meta, state));
    } catch (err) {
      if (this.index.slot(id) !== slot || !this.index.has(slot, Flag.Staged)) return;
      this.logger.error('cannot read a queued message back from the spool', { queueId: id, error: describeError(err) });
      this.unstage(slot);
      this.index.nextAt[slot] = this.now() + PAGE_IN_RETRY_MS;
      this.schedule(slot);
    }
  }

  /**
   * Parks a leased message without a new attempt (its sending domain is paused). Holding is
   * not persisted: after a restart the message is leased again and held again if still paused.
   */
  hold(id: string): void {
    const slot = this.index.slot(id);
    const entry = this.resident.get(id);
    if (slot === undefined || !entry) return;
    this.index.set(slot, Flag.Leased, false);
    this.index.set(slot, Flag.Held, true);
    entry.leased = false;
    entry.meta = { ...entry.meta, held: true };
    this.pageOut(id);
  }

  /** Makes held messages of the sending domains that match due again; returns how many. */
  releaseHeld(match: (sendingDomain: string | undefined) => boolean): number {
    let count = 0;
    for (const slot of this.index.slots()) {
      if (!this.index.has(slot, Flag.Held) || !match(this.index.sendingDomain(slot))) continue;
      this.index.set(slot, Flag.Held, false);
      const entry = this.resident.get(this.index.id(slot));
      if (entry) entry.meta = { ...entry.meta, held: false };
      this.schedule(slot);
      count++;
    }
    return count;
  }

  /** Returns a leased message unchanged (e.g. on shutdown) so it is due again. */
  release(id: string): void {
    const slot = this.index.slot(id);
    if (slot === undefined || !this.index.has(slot, Flag.Leased)) return;
    this.index.set(slot, Flag.Leased, false);
    const entry = this.resident.get(id);
    if (entry) entry.leased = false;
    this.pageOut(id);
    this.schedule(slot);
  }

  /**
   * Records the outcome of an attempt durably. When no recipient is pending any more the
   * message is removed; otherwise it is due again at `state.nextAttemptAt` (unless held).
   */
  async update(id: string, state: MessageState): Promise<void> {
    const slot = this.index.slot(id);
    if (slot === undefined) return;
    const entry = this.resident.get(id) ?? this.readEntrySync(slot);
    const finished = state.recipients.every((r) => r.status !== 'pending');
    if (finished) {
      await this.log.append(encodeJsonRecord(RecordType.Remove, { id }));
      this.remove(id);
      this.emit('finished', { ...entry.meta, ...state });
      return;
    }
    const record = encodeJsonRecord(RecordType.State, { id, ...state });
    const loc = await this.log.append(record);
    if (this.index.slot(id) !== slot) return;
    entry.meta = { ...entry.meta, ...state, recipients: this.compactRecipients(state.recipients), held: false, adminHold: state.adminHold === true };
    entry.leased = false;
    this.applyState(slot, entry.meta, loc.segment, loc.offset, record[1]!.length);
    this.index.set(slot, Flag.Leased, false);
    entry.stateSegment = loc.segment;
    this.pageOut(id);
    this.schedule(slot);
  }

  // ---- administration (relay/src/admin/) -----------------------------------------------------

  /**
   * Takes a message out of delivery's hands for an admin action. Undefined: no such message;
   * 'leased': a delivery attempt holds it right now (the admin API answers 409 rather than wait,
   * as an attempt can last minutes). A claimed message is leased, so delivery leaves it alone
   * until the caller ends the claim with `update`, `release`, `writeAdminState` or `removeClaimed`.
   */
  claim(id: string): SpoolEntry | 'leased' | undefined {
    const slot = this.index.slot(id);
    if (slot === undefined) return undefined;
    if (this.index.has(slot, Flag.Leased)) return 'leased';
    const entry = this.resident.get(id) ?? this.readEntrySync(slot);
    this.resident.set(id, entry);
    this.unstage(slot);
    this.index.set(slot, Flag.Leased, true);
    entry.leased = true;
    return entry;
  }

  /**
   * Durably records a claimed message's admin hold flag and next attempt time (a STATE record,
   * fsynced before this resolves), then hands it back to delivery. Clears a pause-hold: a
   * message of a still paused domain is held again when next leased.
   */
  async writeAdminState(entry: SpoolEntry, change: { readonly adminHold: boolean; readonly nextAttemptAt?: number }): Promise<void> {
    const m = entry.meta;
    const nextAttemptAt = change.nextAttemptAt ?? m.nextAttemptAt;
    try {
      const record = encodeJsonRecord(RecordType.State, { id: m.id, recipients: m.recipients, attempts: m.attempts, nextAttemptAt, ...(change.adminHold ? { adminHold: true } : {}) });
      const loc = await this.log.append(record);
      entry.meta = { ...m, nextAttemptAt, held: false, adminHold: change.adminHold };
      const slot = this.index.slot(m.id);
      if (slot !== undefined) this.applyState(slot, entry.meta, loc.segment, loc.offset, record[1]!.length);
      entry.stateSegment = loc.segment;
    } finally {
      entry.leased = false;
      const slot = this.index.slot(m.id);
      if (slot !== undefined) {
        this.index.set(slot, Flag.Leased, false);
        this.pageOut(m.id);
        this.schedule(slot);
      }
    }
  }

  /** Removes a claimed message for good (a REMOVE record, fsynced), without delivering it. */
  async removeClaimed(entry: SpoolEntry): Promise<void> {
    try {
      await this.log.append(encodeJsonRecord(RecordType.Remove, { id: entry.meta.id }));
    } catch (err) {
      this.release(entry.meta.id);
      throw err;
    }
    this.remove(entry.meta.id);
  }

  /**
   * One page of the live messages that `match`, in queue id (arrival) order after the cursor
   * `after`. Scans the index but keeps at most `limit + 1` entries, so a page costs O(n log limit)
   * time and O(limit) memory whatever the size of the queue; paged-out candidates are read back
   * a batch at a time and dropped again unless kept for the page. It yields to the event loop
   * every few thousand entries (the walk over the index's slots stays valid while it changes), so a large
   * queue does not stall SMTP sessions. Messages that left the spool meanwhile are left out.
   */
  async page(match: (entry: SpoolEntry) => boolean, limit: number, after = ''): Promise<{ entries: SpoolEntry[]; more: boolean }> {
    const best: SpoolEntry[] = [];
    const beyond = (id: string) => id <= after || (best.length > limit && id >= best[limit]!.meta.id);
    const consider = (entry: SpoolEntry) => {
      const id = entry.meta.id;
      if (beyond(id) || !match(entry)) return;
      let lo = 0;
      let hi = best.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (best[mid]!.meta.id < id) lo = mid + 1;
        else hi = mid;
      }
      best.splice(lo, 0, entry);
      if (best.length > limit + 1) best.pop();
    };
    let toRead: number[] = [];
    const readBatch = async () => {
      const read = await Promise.all(toRead.map((slot) => this.readEntry(slot).catch(() => undefined)));
      toRead = [];
      for (const entry of read) if (entry) consider(entry);
    };
    let seen = 0;
    for (const [id, slot] of this.index.entries()) {
      if (++seen % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
      if (beyond(id)) continue;
      const entry = this.resident.get(id);
      if (entry) consider(entry);
      else if (toRead.push(slot) >= PAGE_IN_BATCH) await readBatch();
    }
    await readBatch();
    const live = best.filter((e) => this.index.slot(e.meta.id) !== undefined);
    return { entries: live.slice(0, limit), more: live.length > limit };
  }

  /** The file of a body kept in large/ (stream it rather than read it whole), if it is one. */
  bodyFile(entry: SpoolEntry): string | undefined {
    return 'file' in entry.body ? join(this.largeDir, entry.body.file) : undefined;
  }

  /** The first `max` bytes of a body (its header block, for DSNs and signing). */
  async readHead(entry: SpoolEntry, max: number): Promise<Buffer> {
    const file = this.bodyFile(entry);
    if (!file) return (await this.readBody(entry)).subarray(0, max);
    const fd = await open(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(max, entry.meta.size));
      const n = await read(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n);
    } finally {
      await close(fd);
    }
  }

  /** Reads a body, inline or from large/. */
  async readBody(entry: SpoolEntry): Promise<Buffer> {
    const body = entry.body;
    if ('file' in body) return readFile(join(this.largeDir, body.file));
    const recent = this.recent.take(entry.meta.id);
    if (recent) return recent;
    return this.log.read(body.segment, body.offset, body.length);
  }

  stats(now = this.now()): QueueStats {
    let ready = 0;
    let deferred = 0;
    let held = 0;
    let oldestCreatedAt: number | undefined;
    const { flags, nextAt, createdAt } = this.index;
    for (const i of this.index.slots()) {
      const created = createdAt[i]!;
      if (oldestCreatedAt === undefined || created < oldestCreatedAt) oldestCreatedAt = created;
      const f = flags[i]!;
      // as queueStateOf, from the index
      if ((f & (Flag.Held | Flag.AdminHold)) !== 0) held++;
      else if ((f & Flag.Attempted) !== 0 && nextAt[i]! > now && (f & Flag.Leased) === 0) deferred++;
      else ready++;
    }
    return { ready, deferred, held, oldestCreatedAt };
  }

  /** How much of the queue is held in memory in full (for tests and the bench): resident entries, and those waiting to be leased. */
  memoryStats(): { resident: number; staged: number } {
    return { resident: this.resident.size, staged: this.stagedLive };
  }

  /** Group-commit effectiveness: records written per fsync batch so far. */
  commitStats(): { batches: number; records: number } {
    return { batches: this.log.batches, records: this.log.records };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.spaceTimer);
    await this.log.close();
    await this.lock.release();
  }

  // ---- index bookkeeping ---------------------------------------------------------------------

  /** The metadata kept in memory for every queued message, with repeated strings shared. */
  private compact(meta: MessageMeta): MessageMeta {
    const p = this.pool;
    const o = meta.origin;
    const origin: MessageOrigin = {
      listener: p.get(o.listener),
      clientAddress: p.get(o.clientAddress),
      ...(o.user !== undefined ? { user: p.get(o.user) } : {}),
      ...(o.helo !== undefined ? { helo: p.get(o.helo) } : {}),
    };
    return {
      ...meta,
      from: p.get(meta.from),
      recipients: this.compactRecipients(meta.recipients),
      ...(meta.sendingDomain !== undefined ? { sendingDomain: p.get(meta.sendingDomain) } : {}),
      ...(meta.headerFromDomain !== undefined ? { headerFromDomain: p.get(meta.headerFromDomain) } : {}),
      ...(meta.category !== undefined ? { category: p.get(meta.category) } : {}),
      origin,
    };
  }

  private compactRecipients(recipients: readonly RecipientState[]): RecipientState[] {
    return recipients.map((r) => (r.lastReply === undefined ? r : { ...r, lastReply: this.replies.get(r.lastReply) }));
  }

  /**
   * Indexes a message from its MESSAGE record (at `msgOff` of segment `msgSeg`, with `metaLen`
   * bytes of meta JSON), resident when `entry` is given. It holds two references: to the
   * segment of its MESSAGE record (the meta to page in, and an inline body) and to that of its
   * newest record. Not scheduled: the caller does that (recovery once, at the end).
   */
  private insert(meta: MessageMeta, msgSeg: number, msgOff: number, metaLen: number, entry: SpoolEntry | undefined): void {
    if (this.index.slot(meta.id) !== undefined) this.remove(meta.id, false);
    const flags = (meta.attempts > 0 ? Flag.Attempted : 0) | (meta.adminHold === true ? Flag.AdminHold : 0) | (meta.bodyFile !== undefined ? Flag.LargeBody : 0);
    this.index.add(meta.id, { nextAt: meta.nextAttemptAt, createdAt: meta.createdAt, msgSeg, msgOff, metaLen, flags, sendingDomain: meta.sendingDomain });
    this.ref(msgSeg, 2);
    if (entry) this.resident.set(meta.id, entry);
  }

  /** Points the index at the message's new STATE record and the scheduling fields it carries. */
  private applyState(slot: number, state: MessageState, segment: number, offset: number, length: number): void {
    const i = this.index;
    const old = i.newestSegment(slot);
    i.stateSeg[slot] = segment;
    i.stateOff[slot] = offset;
    i.stateLen[slot] = length;
    this.ref(segment, 1);
    this.ref(old, -1);
    i.nextAt[slot] = state.nextAttemptAt;
    i.set(slot, Flag.Attempted, state.attempts > 0);
    i.set(slot, Flag.AdminHold, state.adminHold === true);
    i.set(slot, Flag.Held, false);
  }

  private schedule(slot: number): void {
    if (this.waiting(slot)) this.due.push(this.index.nextAt[slot]!, slot);
  }

  /** In a queue larger than the active limit, a message going back to wait keeps only its index entry. */
  private pageOut(id: string): void {
    if (this.index.size > this.activeLimit) this.resident.delete(id);
  }

  private remove(id: string, unlinkBody = true): void {
    const slot = this.index.slot(id);
    if (slot === undefined) return;
    this.unstage(slot);
    const large = this.index.has(slot, Flag.LargeBody);
    this.ref(this.index.msgSeg[slot]!, -1);
    this.ref(this.index.newestSegment(slot), -1);
    this.index.remove(id);
    this.resident.delete(id);
    this.recent.drop(id);
    if (large && unlinkBody) unlink(join(this.largeDir, `${id}.eml`)).catch(() => undefined);
  }

  // ---- page-in -------------------------------------------------------------------------------

  private recordsOf(slot: number): Records {
    const i = this.index;
    return {
      msgSeg: i.msgSeg[slot]!,
      metaAt: i.msgOff[slot]! + HEADER_SIZE + 4,
      metaLen: i.metaLen[slot]!,
      stateSeg: i.stateSeg[slot]!,
      stateAt: i.stateOff[slot]! + HEADER_SIZE,
      stateLen: i.stateLen[slot]!,
    };
  }

  /** A paged-out message's entry, from its records (not kept: see page()). */
  private async readEntry(slot: number): Promise<SpoolEntry> {
    const id = this.index.id(slot);
    const resident = this.resident.get(id);
    if (resident) return resident;
    const where = this.recordsOf(slot);
    const meta = await this.log.read(where.msgSeg, where.metaAt, where.metaLen);
    const state = where.stateLen > 0 ? await this.log.read(where.stateSeg, where.stateAt, where.stateLen) : undefined;
    if (this.index.slot(id) !== slot || !sameRecords(where, this.recordsOf(slot))) return this.resident.get(id) ?? this.readEntrySync(slot);
    return this.buildEntry(slot, meta, state);
  }

  private readEntrySync(slot: number): SpoolEntry {
    const where = this.recordsOf(slot);
    try {
      const meta = this.log.readSync(where.msgSeg, where.metaAt, where.metaLen);
      const state = where.stateLen > 0 ? this.log.readSync(where.stateSeg, where.stateAt, where.stateLen) : undefined;
      return this.buildEntry(slot, meta, state);
    } catch (err) {
      throw new RelayError('ERELAY_SPOOL_IO', `cannot read queued message ${this.index.id(slot)} back: ${describeError(err)}`, { cause: err });
    }
  }

  /** The entry replay would have built from the same two records, with the index's in-memory flags. */
  private buildEntry(slot: number, metaJson: Buffer, stateJson: Buffer | undefined): SpoolEntry {
    const i = this.index;
    const id = i.id(slot);
    let meta = this.compact(parseMessageMeta(JSON.parse(metaJson.toString('utf8'))));
    if (meta.id !== id) throw new Error(`spool record of ${meta.id} where ${id} was indexed`);
    if (stateJson) {
      const { id: stateId, state } = parseMessageState(JSON.parse(stateJson.toString('utf8')));
      if (stateId !== id) throw new Error(`spool state of ${stateId} where ${id} was indexed`);
      meta = { ...meta, ...state, recipients: this.compactRecipients(state.recipients), adminHold: state.adminHold === true };
    }
    meta = { ...meta, held: i.has(slot, Flag.Held) };
    const body = meta.bodyFile ? { file: meta.bodyFile } : { segment: i.msgSeg[slot]!, offset: i.msgOff[slot]! + HEADER_SIZE + 4 + i.metaLen[slot]!, length: meta.size };
    return { meta, body, stateSegment: i.newestSegment(slot), leased: i.has(slot, Flag.Leased) };
  }

  private ref(segment: number, delta: number): void {
    const count = (this.refs.get(segment) ?? 0) + delta;
    if (count > 0) {
      this.refs.set(segment, count);
      return;
    }
    this.refs.delete(segment);
    this.maybeRemoveSegment(segment);
  }

  private maybeRemoveSegment(segment: number): void {
    // while recovering, recover() itself deletes the segments nothing references at the end
    if (this.recovering || segment === this.log.current || (this.refs.get(segment) ?? 0) > 0) return;
    this.log.remove(segment).catch((err: unknown) => {
      this.logger.warn('cannot remove spool segment', { segment, error: describeError(err) });
    });
  }

  // ---- recovery ------------------------------------------------------------------------------

  /** Replays every segment; returns the highest segment number seen (0 when none). */
  private async recover(): Promise<number> {
    const names = await readdir(this.segmentsDir);
    const segments = names
      .map((n) => parseSegmentFileName(n))
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b);
    const started = Date.now();
    for (const segment of segments) await this.replaySegment(segment, segment === segments.at(-1));
    // Bodies that never got a MESSAGE record (crash mid-receive) or whose removal was lost.
    const large = new Set<string>();
    for (const slot of this.index.slots()) if (this.index.has(slot, Flag.LargeBody)) large.add(`${this.index.id(slot)}.eml`);
    for (const name of await readdir(this.largeDir)) {
      if (!large.has(name)) await unlink(join(this.largeDir, name)).catch(() => undefined);
    }
    for (const name of large) {
      if (await exists(join(this.largeDir, name))) continue;
      const id = name.slice(0, -'.eml'.length);
      const entry = this.get(id)!;
      await this.quarantine(`${id}.meta.json`, Buffer.from(JSON.stringify(entry.meta)), 'missing_body');
      this.remove(id, false);
    }
    // one heap push per message, not one per record replayed
    for (const slot of this.index.slots()) this.schedule(slot);
    const live = new Set(this.refs.keys());
    for (const segment of segments) {
      if (!live.has(segment)) await unlink(join(this.segmentsDir, segmentFileName(segment))).catch(() => undefined);
    }
    if (segments.length > 0) {
      this.logger.info('spool recovered', { messages: this.index.size, resident: this.resident.size, segments: segments.length, ms: Date.now() - started });
    }
    return segments.at(-1) ?? 0;
  }

  private async replaySegment(segment: number, isLast: boolean): Promise<void> {
    const path = join(this.segmentsDir, segmentFileName(segment));
    const buf = await readFile(path);
    const { records, bad } = scanSegment(buf);
    for (const range of bad) {
      const kind: CorruptKind = range.tail && isLast ? 'torn_tail' : 'record';
      await this.quarantine(`${segmentFileName(segment)}-${range.start}.bin`, buf.subarray(range.start, range.end), kind);
    }
    const tail = bad.at(-1);
    if (tail?.tail) await truncate(path, tail.start);
    for (const record of records) {
      try {
        this.applyRecord(segment, record.type, record.offset, record.payload);
      } catch (err) {
        await this.quarantine(`${segmentFileName(segment)}-${record.offset}.rec`, record.payload, 'record');
        this.logger.warn('unreadable spool record moved aside', { segment, offset: record.offset, error: describeError(err) });
      }
    }
  }

  private applyRecord(segment: number, type: RecordType, offset: number, payload: Buffer): void {
    if (type === RecordType.Message) {
      const { meta, bodyOffset, bodyLength } = decodeMessagePayload(payload);
      const parsed = parseMessageMeta(meta);
      if (parsed.bodyFile !== undefined && parsed.bodyFile !== `${parsed.id}.eml`) throw new Error('spool record: bad bodyFile');
      const keep = this.resident.size < this.activeLimit;
      const full = keep ? this.compact(parsed) : parsed;
      const body = full.bodyFile ? { file: full.bodyFile } : { segment, offset: offset + HEADER_SIZE + bodyOffset, length: bodyLength };
      this.insert(full, segment, offset, bodyOffset - 4, keep ? { meta: full, body, stateSegment: segment, leased: false } : undefined);
      return;
    }
    const value: unknown = JSON.parse(payload.toString('utf8'));
    if (type === RecordType.State) {
      const { id, state } = parseMessageState(value);
      const slot = this.index.slot(id);
      if (slot === undefined) return; // its MESSAGE record was in a segment already deleted: the message is done
      this.applyState(slot, state, segment, offset, payload.length);
      const entry = this.resident.get(id);
      if (entry) {
        entry.meta = { ...entry.meta, ...state, recipients: this.compactRecipients(state.recipients), held: false, adminHold: state.adminHold === true };
        entry.stateSegment = segment;
      }
      return;
    }
    const id = (value as { id?: unknown }).id;
    if (typeof id === 'string') this.remove(id, false);
  }

  private async quarantine(name: string, bytes: Buffer, kind: CorruptKind): Promise<void> {
    const path = join(this.corruptDir, name);
    await writeFile(path, bytes);
    await fsyncDir(this.corruptDir);
    this.logger.warn('spool data moved to corrupt/', { file: name, bytes: bytes.length, kind });
    this.emit('corrupt', kind, path);
  }
}

export type QueueState = 'ready' | 'deferred' | 'held';

/** The state `mailq` shows and `stats()` counts: held (by a pause or an admin), deferred after a failed attempt, else ready. */
export function queueStateOf(entry: SpoolEntry, now: number): QueueState {
  const m = entry.meta;
  if (parked(m)) return 'held';
  if (m.attempts > 0 && m.nextAttemptAt > now && !entry.leased) return 'deferred';
  return 'ready';
}

function parked(meta: MessageMeta): boolean {
  return meta.held || meta.adminHold === true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Where a message's two records are, to tell whether a read raced with a change. */
interface Records {
  readonly msgSeg: number;
  readonly metaAt: number;
  readonly metaLen: number;
  readonly stateSeg: number;
  readonly stateAt: number;
  readonly stateLen: number;
}

function sameRecords(a: Records, b: Records): boolean {
  return a.msgSeg === b.msgSeg && a.metaAt === b.metaAt && a.stateSeg === b.stateSeg && a.stateAt === b.stateAt && a.stateLen === b.stateLen;
}
