import type { IncomingMessage as HttpRequest } from 'node:http';
import { join } from 'node:path';
import { DurableMap } from '../api/durable-map.ts';
import { RelayError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { IncomingMessage } from '../spool/incoming-message.ts';
import { newQueueId } from '../spool/queue-id.ts';
import type { Spool } from '../spool/spool.ts';
import type { MessageMeta } from '../spool/types.ts';
import { FrameReader, handoffId, type HandoffHeader } from './handoff-wire.ts';

export interface QueueImporterOptions {
  readonly spool: Spool;
  /** The spool directory: handoffs.jsonl is kept there. */
  readonly dir: string;
  /** This spool's origin id (origin-id.ts). */
  readonly self: string;
  /** limits.maxMessageSize: larger frames are refused. */
  readonly maxSize: number;
  readonly logger: Logger;
}

export interface ImportedMessage {
  readonly handoff: string;
  /** The queue id here: the sender's, unless a message here already has it. */
  readonly id: string;
  /** Imported before (a retried handoff): nothing was added. */
  readonly duplicate: boolean;
}

/**
 * Handoffs seen are kept this long and at most this many: a sender retries a batch within
 * seconds; the bound covers a drain of the largest queue a pod holds several times over.
 */
const RETENTION_MS = 7 * 24 * 3600_000;
const MAX_HANDOFFS = 1_000_000;

/**
 * The receiving side of a drain (`POST /v1/queue/import`): commits each handed-off message to
 * the spool with its schedule and per-recipient state, and answers only once every message of
 * the request is fsynced (they are committed concurrently, so group commit covers the batch).
 * Idempotent by handoff id: a durable record of the handoffs imported (handoffs.jsonl in the
 * spool directory, written after the message's commit) answers a retry as a duplicate, and so
 * does the message itself while still queued here (a crash between the two writes).
 */
export class QueueImporter {
  /** Handoffs being committed right now: the same one twice in flight is imported once. */
  private readonly pending = new Map<string, Promise<ImportedMessage>>();

  private readonly spool: Spool;
  private readonly logger: Logger;

  private constructor(
    private readonly options: QueueImporterOptions,
    private readonly handoffs: DurableMap<string>,
  ) {
    this.spool = options.spool;
    this.logger = options.logger;
  }

  static async open(options: QueueImporterOptions): Promise<QueueImporter> {
    const { dir, logger } = options;
    const handoffs = await DurableMap.open<string>(join(dir, 'handoffs.jsonl'), {
      retentionMs: RETENTION_MS,
      maxEntries: MAX_HANDOFFS,
      isValue: (v): v is string => typeof v === 'string',
      onCompactionError: (err) => logger.warn('handoff record compaction failed', { error: describeError(err) }),
    });
    return new QueueImporter(options, handoffs);
  }

  /** Reads the frames of a request and imports them; throws (nothing acknowledged) on a bad frame. */
  async importRequest(req: HttpRequest): Promise<ImportedMessage[]> {
    const reader = new FrameReader(this.options.maxSize);
    const commits: Array<Promise<ImportedMessage>> = [];
    let current: { header: HandoffHeader; incoming: IncomingMessage | undefined } | undefined;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        for (const event of reader.push(chunk)) {
          if (event.kind === 'header') {
            // a drain towards itself would take its own queue for duplicates and delete it
            if (event.header.origin === this.options.self) throw new RelayError('ERELAY_HANDOFF_INVALID', 'a message of this very spool: a pod does not drain to itself');
            const known = this.known(event.header);
            current = { header: event.header, incoming: known ? undefined : this.spool.newMessage(this.localId(event.header.meta)) };
            if (known) commits.push(known);
          } else if (event.kind === 'body') {
            await current!.incoming?.write(event.chunk);
          } else {
            const { header, incoming } = current!;
            current = undefined;
            if (incoming) commits.push(this.commit(header, incoming));
          }
        }
      }
      reader.finish();
    } catch (err) {
      await current?.incoming?.discard();
      // what was committed stays (a retry finds it); the caller answers with the error
      await Promise.allSettled(commits);
      throw err;
    }
    return Promise.all(commits);
  }

  /** A handoff imported before or being imported now. */
  private known(header: HandoffHeader): Promise<ImportedMessage> | undefined {
    const key = handoffId(header.origin, header.meta.id);
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight.then((m) => ({ ...m, duplicate: true }));
    const recorded = this.handoffs.get(key);
    if (recorded !== undefined) return Promise.resolve({ handoff: key, id: recorded, duplicate: true });
    const here = this.spool.get(header.meta.id)?.meta;
    if (here && sameMessage(here, header.meta)) return this.record(key, header.meta.id, true);
    return undefined;
  }

  /**
   * The sender's queue id, so that the return paths (VERP) of earlier attempts still name this
   * message; a new one when another message here has it (ids are random, not reserved).
   */
  private localId(meta: MessageMeta): string {
    return this.spool.get(meta.id) ? newQueueId(meta.createdAt) : meta.id;
  }

  private commit(header: HandoffHeader, incoming: IncomingMessage): Promise<ImportedMessage> {
    const key = handoffId(header.origin, header.meta.id);
    const run = (async () => {
      const { id: _id, size: _size, held: _held, bodyFile: _file, ...meta } = header.meta;
      const entry = await this.spool.commit(incoming, meta);
      if (header.adminHold) {
        const claimed = this.spool.claim(entry.meta.id);
        if (typeof claimed === 'object') await this.spool.writeAdminState(claimed, { adminHold: true });
      }
      this.logger.info('message imported', { queueId: entry.meta.id, handoff: key, domain: meta.sendingDomain, attempts: meta.attempts });
      return this.record(key, entry.meta.id, false);
    })();
    this.pending.set(key, run);
    void run.finally(() => this.pending.delete(key)).catch(() => undefined);
    return run;
  }

  /** After the message's own commit: a crash before this leaves it queued, found by `known`. */
  private async record(key: string, id: string, duplicate: boolean): Promise<ImportedMessage> {
    await this.handoffs.set(key, id);
    return { handoff: key, id, duplicate };
  }

  close(): Promise<void> {
    return this.handoffs.close();
  }
}

function sameMessage(a: MessageMeta, b: MessageMeta): boolean {
  return a.createdAt === b.createdAt && a.from === b.from && a.size === b.size;
}
