import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { MessageMeta } from '../spool/types.ts';
import { DurableMap } from './durable-map.ts';
import { apiOwner, type FinishedMessage } from './message-status.ts';

function isFinished(v: unknown): v is FinishedMessage {
  const f = v as FinishedMessage;
  return typeof v === 'object' && v !== null && typeof f.id === 'string' && typeof f.owner === 'string' && Array.isArray(f.recipients);
}

export const STATUS_RETENTION_MS = 7 * 24 * 3600_000;
export const STATUS_MAX_MESSAGES = 100_000;

/**
 * The final per-recipient state of API messages after they leave the spool, so
 * `GET /v1/messages/{id}` still answers: the 100,000 most recent within 7 days, kept in
 * `<queue.dir>/api/status.jsonl`. Fed by the spool's `finished` event; written without
 * holding up delivery, so a crash within one fsync of a message finishing can lose its
 * status record (the message itself was delivered or bounced).
 */
export class StatusStore {
  private constructor(
    private readonly map: DurableMap<FinishedMessage>,
    private readonly logger: Logger,
  ) {}

  static async open(dir: string, logger: Logger, now?: () => number): Promise<StatusStore> {
    const map = await DurableMap.open<FinishedMessage>(join(dir, 'api', 'status.jsonl'), {
      retentionMs: STATUS_RETENTION_MS,
      maxEntries: STATUS_MAX_MESSAGES,
      isValue: isFinished,
      ...(now ? { now } : {}),
      onCompactionError: (err) => logger.error('status journal compaction failed', { error: String(err) }),
    });
    return new StatusStore(map, logger);
  }

  /** Keeps the outcome of a message that left the spool, if it came through the API. */
  readonly onFinished = (meta: MessageMeta): void => {
    const owner = apiOwner(meta);
    if (owner === undefined) return;
    const record: FinishedMessage = { id: meta.id, owner, createdAt: meta.createdAt, recipients: meta.recipients };
    this.map.set(meta.id, record).catch((err: unknown) => {
      this.logger.error('message status not stored', { queueId: meta.id, error: String(err) });
    });
  };

  get(id: string): FinishedMessage | undefined {
    return this.map.get(id);
  }

  close(): Promise<void> {
    return this.map.close();
  }
}
