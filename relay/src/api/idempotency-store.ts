import { join } from 'node:path';
import { HttpError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { DurableMap } from './durable-map.ts';

/** What a request answered, replayed for a retry with the same key. */
export interface ApiResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

interface Stored extends ApiResult {
  /** SHA-256 of the request (method, path, body), so a different request under the same key is told apart. */
  readonly fingerprint: string;
}

function isStored(v: unknown): v is Stored {
  const s = v as Stored;
  return typeof v === 'object' && v !== null && typeof s.fingerprint === 'string' && typeof s.status === 'number' && typeof s.body === 'object';
}

export const IDEMPOTENCY_RETENTION_MS = 24 * 3600_000;
export const IDEMPOTENCY_MAX_KEYS = 500_000;

/**
 * `Idempotency-Key` handling. A key is scoped to the API token; a request whose key was seen
 * answers with the first result and queues nothing. Only successes (2xx) are remembered:
 * a refused request queued nothing, so running it again is harmless and lets a client retry
 * after fixing the cause. The result is fsynced in `<queue.dir>/api/idempotency.jsonl` before
 * the client gets it; a crash after the message's commit but before that fsync can therefore
 * queue a retry twice, never lose one. Keys are kept 24 h, at most 500,000 of them.
 */
export class IdempotencyStore {
  private readonly inFlight = new Map<string, { fingerprint: string; done: Promise<unknown> }>();

  private constructor(
    private readonly map: DurableMap<Stored>,
    private readonly logger: Logger,
  ) {}

  static async open(dir: string, logger: Logger, now?: () => number): Promise<IdempotencyStore> {
    let warned = false;
    const map = await DurableMap.open<Stored>(join(dir, 'api', 'idempotency.jsonl'), {
      retentionMs: IDEMPOTENCY_RETENTION_MS,
      maxEntries: IDEMPOTENCY_MAX_KEYS,
      isValue: isStored,
      ...(now ? { now } : {}),
      onEarlyEviction: () => {
        if (warned) return;
        warned = true;
        logger.warn('idempotency keys forgotten before 24 h: more than the bound in a day', { maxKeys: IDEMPOTENCY_MAX_KEYS });
      },
      onCompactionError: (err) => logger.error('idempotency journal compaction failed', { error: String(err) }),
    });
    return new IdempotencyStore(map, logger);
  }

  /** Runs `work` unless this client already did this request under `key`; concurrent duplicates wait for the first. */
  async run(client: string, key: string, fingerprint: string, work: () => Promise<ApiResult>): Promise<ApiResult> {
    const id = `${client}\n${key}`;
    for (;;) {
      const stored = this.map.get(id);
      if (stored) {
        if (stored.fingerprint !== fingerprint) throw conflict();
        return { status: stored.status, body: stored.body };
      }
      const running = this.inFlight.get(id);
      if (!running) break;
      if (running.fingerprint !== fingerprint) throw conflict();
      await running.done.catch(() => undefined);
    }
    const done = work();
    this.inFlight.set(id, { fingerprint, done });
    try {
      const result = await done;
      if (result.status >= 200 && result.status < 300) {
        await this.map.set(id, { ...result, fingerprint }).catch((err: unknown) => {
          // the message is queued: answering an error now would invite the duplicate the key is meant to prevent
          this.logger.error('idempotency key not stored', { client, error: String(err) });
        });
      }
      return result;
    } finally {
      this.inFlight.delete(id);
    }
  }

  close(): Promise<void> {
    return this.map.close();
  }
}

function conflict(): HttpError {
  return new HttpError(422, 'idempotency_key_reused', 'this Idempotency-Key was used for a different request', 'idempotency_conflict');
}
