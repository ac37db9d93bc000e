import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { access, mkdir, readFile, readdir, statfs, truncate, unlink, writeFile } from 'node:fs/promises';
import type { Logger } from '../log.ts';
import { RelayError, describeError } from '../errors.ts';
import { DueHeap } from './due-heap.ts';
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
  readonly now?: () => number;
}

export type CorruptKind = 'record' | 'torn_tail' | 'missing_body';

/**
 * The crash-safe queue (DESIGN.md "Spool"). Layout of `dir`:
 *
 *   lock                  one process per spool
 *   segments/NNNN.seg     append-only records: MESSAGE (meta + inline body), STATE, REMOVE
 *   large/ID.eml          bodies larger than inlineLimit, fsynced before their MESSAGE record
 *   corrupt/              unreadable bytes and metadata, moved aside on recovery, never dropped
 *
 * Every record is acknowledged only after group commit has fsynced it. The live set is kept in
 * memory and rebuilt by replaying the segments on start-up; a segment is deleted once no live
 * message references it.
 *
 * Events: `message` (a new message was committed), `finished` (the final MessageMeta of a
 * message that left the spool: no recipient pending), `corrupt` (kind, path).
 */
export class Spool extends EventEmitter {
  private readonly entries = new Map<string, SpoolEntry>();
  private readonly refs = new Map<number, number>();
  private readonly due = new DueHeap();
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
      const last = await this.recover();
      this.log = new SegmentLog(this.segmentsDir, this.options.maxSegmentSize ?? 64 * 2 ** 20, (seg) => this.maybeRemoveSegment(seg));
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
      this.insert(entry);
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
    return this.entries.size;
  }

  get(id: string): SpoolEntry | undefined {
    return this.entries.get(id);
  }

  /** Every live entry, oldest first. */
  values(): IterableIterator<SpoolEntry> {
    return this.entries.values();
  }

  /** When the earliest not-leased message becomes due, if any. */
  nextDueAt(): number | undefined {
    this.skipStale();
    return this.due.peekTime();
  }

  /**
   * Hands out up to `limit` messages due at `now`, oldest due first. A leased message is not
   * handed out again until `update` or `release` returns it.
   */
  lease(limit: number, now = this.now()): SpoolEntry[] {
    const out: SpoolEntry[] = [];
    while (out.length < limit) {
      this.skipStale();
      const time = this.due.peekTime();
      if (time === undefined || time > now) break;
      const { id } = this.due.pop()!;
      const entry = this.entries.get(id)!;
      entry.leased = true;
      out.push(entry);
    }
    return out;
  }

  private skipStale(): void {
    for (;;) {
      const time = this.due.peekTime();
      if (time === undefined) return;
      const entry = this.entries.get(this.due.peekId()!);
      if (entry && !entry.leased && !parked(entry.meta) && entry.meta.nextAttemptAt === time) return;
      this.due.pop();
    }
  }

  /**
   * Parks a leased message without a new attempt (its sending domain is paused). Holding is
   * not persisted: after a restart the message is leased again and held again if still paused.
   */
  hold(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    entry.leased = false;
    entry.meta = { ...entry.meta, held: true };
  }

  /** Makes held messages that match due again; returns how many. */
  releaseHeld(match: (meta: MessageMeta) => boolean): number {
    let count = 0;
    for (const entry of this.entries.values()) {
      if (!entry.meta.held || !match(entry.meta)) continue;
      entry.meta = { ...entry.meta, held: false };
      this.schedule(entry);
      count++;
    }
    return count;
  }

  /** Returns a leased message unchanged (e.g. on shutdown) so it is due again. */
  release(id: string): void {
    const entry = this.entries.get(id);
    if (!entry || !entry.leased) return;
    entry.leased = false;
    this.schedule(entry);
  }

  /**
   * Records the outcome of an attempt durably. When no recipient is pending any more the
   * message is removed; otherwise it is due again at `state.nextAttemptAt` (unless held).
   */
  async update(id: string, state: MessageState): Promise<void> {
    const entry = this.entries.get(id);
    if (!entry) return;
    const finished = state.recipients.every((r) => r.status !== 'pending');
    if (finished) {
      await this.log.append(encodeJsonRecord(RecordType.Remove, { id }));
      this.remove(entry);
      this.emit('finished', { ...entry.meta, ...state });
      return;
    }
    const loc = await this.log.append(encodeJsonRecord(RecordType.State, { id, ...state }));
    entry.meta = { ...entry.meta, ...state, recipients: this.compactRecipients(state.recipients), held: false, adminHold: state.adminHold === true };
    this.moveState(entry, loc.segment);
    entry.leased = false;
    this.schedule(entry);
  }

  // ---- administration (relay/src/admin/) -----------------------------------------------------

  /**
   * Takes a message out of delivery's hands for an admin action. Undefined: no such message;
   * 'leased': a delivery attempt holds it right now (the admin API answers 409 rather than wait,
   * as an attempt can last minutes). A claimed message is leased, so delivery leaves it alone
   * until the caller ends the claim with `update`, `release`, `writeAdminState` or `removeClaimed`.
   */
  claim(id: string): SpoolEntry | 'leased' | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.leased) return 'leased';
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
      const record = { id: m.id, recipients: m.recipients, attempts: m.attempts, nextAttemptAt, ...(change.adminHold ? { adminHold: true } : {}) };
      const loc = await this.log.append(encodeJsonRecord(RecordType.State, record));
      entry.meta = { ...m, nextAttemptAt, held: false, adminHold: change.adminHold };
      this.moveState(entry, loc.segment);
    } finally {
      entry.leased = false;
      this.schedule(entry);
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
    this.remove(entry);
  }

  /**
   * One page of the live messages that `match`, in queue id (arrival) order after the cursor
   * `after`. Scans the index but keeps at most `limit + 1` entries, so a page costs O(n log limit)
   * time and O(limit) memory whatever the size of the queue; it yields to the event loop every
   * few thousand entries (a Map iterator stays valid while the map changes), so a large queue
   * does not stall SMTP sessions. Messages that left the spool meanwhile are left out.
   */
  async page(match: (entry: SpoolEntry) => boolean, limit: number, after = ''): Promise<{ entries: SpoolEntry[]; more: boolean }> {
    const best: SpoolEntry[] = [];
    let seen = 0;
    for (const entry of this.entries.values()) {
      if (++seen % 4096 === 0) await new Promise((resolve) => setImmediate(resolve));
      const id = entry.meta.id;
      if (id <= after || (best.length > limit && id >= best[limit]!.meta.id) || !match(entry)) continue;
      let lo = 0;
      let hi = best.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (best[mid]!.meta.id < id) lo = mid + 1;
        else hi = mid;
      }
      best.splice(lo, 0, entry);
      if (best.length > limit + 1) best.pop();
    }
    const live = best.filter((e) => this.entries.get(e.meta.id) === e);
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
    for (const entry of this.entries.values()) {
      const m = entry.meta;
      if (oldestCreatedAt === undefined || m.createdAt < oldestCreatedAt) oldestCreatedAt = m.createdAt;
      const state = queueStateOf(entry, now);
      if (state === 'held') held++;
      else if (state === 'deferred') deferred++;
      else ready++;
    }
    return { ready, deferred, held, oldestCreatedAt };
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

  private insert(entry: SpoolEntry): void {
    const previous = this.entries.get(entry.meta.id);
    if (previous) this.dropRefs(previous);
    this.entries.set(entry.meta.id, entry);
    if ('segment' in entry.body) this.ref(entry.body.segment, 1);
    this.ref(entry.stateSegment, 1);
    this.schedule(entry);
  }

  private schedule(entry: SpoolEntry): void {
    if (!parked(entry.meta) && !entry.leased) this.due.push(entry.meta.nextAttemptAt, entry.meta.id);
  }

  private moveState(entry: SpoolEntry, segment: number): void {
    this.ref(segment, 1);
    const old = entry.stateSegment;
    entry.stateSegment = segment;
    this.ref(old, -1);
  }

  private remove(entry: SpoolEntry): void {
    this.entries.delete(entry.meta.id);
    this.recent.drop(entry.meta.id);
    this.dropRefs(entry);
    if ('file' in entry.body) unlink(join(this.largeDir, entry.body.file)).catch(() => undefined);
  }

  private dropRefs(entry: SpoolEntry): void {
    if ('segment' in entry.body) this.ref(entry.body.segment, -1);
    this.ref(entry.stateSegment, -1);
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
    if (!this.log || segment === this.log.current || (this.refs.get(segment) ?? 0) > 0) return;
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
    const referenced = new Set<string>();
    for (const entry of this.entries.values()) if ('file' in entry.body) referenced.add(entry.body.file);
    for (const name of await readdir(this.largeDir)) {
      if (!referenced.has(name)) await unlink(join(this.largeDir, name)).catch(() => undefined);
    }
    for (const entry of [...this.entries.values()]) {
      if ('file' in entry.body && !(await exists(join(this.largeDir, entry.body.file)))) {
        await this.quarantine(`${entry.meta.id}.meta.json`, Buffer.from(JSON.stringify(entry.meta)), 'missing_body');
        this.entries.delete(entry.meta.id);
        this.dropRefs(entry);
      }
    }
    const live = new Set(this.refs.keys());
    for (const segment of segments) {
      if (!live.has(segment)) await unlink(join(this.segmentsDir, segmentFileName(segment))).catch(() => undefined);
    }
    if (segments.length > 0) {
      this.logger.info('spool recovered', { messages: this.entries.size, segments: segments.length, ms: Date.now() - started });
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
      const parsed = this.compact(parseMessageMeta(meta));
      const body = parsed.bodyFile ? { file: parsed.bodyFile } : { segment, offset: offset + HEADER_SIZE + bodyOffset, length: bodyLength };
      this.insert({ meta: parsed, body, stateSegment: segment, leased: false });
      return;
    }
    const value: unknown = JSON.parse(payload.toString('utf8'));
    if (type === RecordType.State) {
      const { id, state } = parseMessageState(value);
      const entry = this.entries.get(id);
      if (!entry) return; // its MESSAGE record was in a segment already deleted: the message is done
      entry.meta = { ...entry.meta, ...state, recipients: this.compactRecipients(state.recipients), held: false, adminHold: state.adminHold === true };
      this.moveState(entry, segment);
      this.schedule(entry);
      return;
    }
    const id = (value as { id?: unknown }).id;
    const entry = typeof id === 'string' ? this.entries.get(id) : undefined;
    if (entry) {
      this.entries.delete(id as string);
      this.dropRefs(entry);
    }
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
