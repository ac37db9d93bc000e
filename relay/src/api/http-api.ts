import type { EventSink } from '../events/event-types.ts';
import type { ApiTokenEntry, RelayConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import type { Spool } from '../spool/spool.ts';
import { ApiServer } from './api-server.ts';
import { ApiSubmission } from './api-submission.ts';
import { TokenVerifier } from './api-tokens.ts';
import { IdempotencyStore } from './idempotency-store.ts';
import type { SendGate } from '../reputation/send-gate.ts';
import type { ReputationService } from '../reputation/reputation-service.ts';
import { createReputationHandlers } from '../reputation/http-handlers.ts';
import { StatusStore } from './status-store.ts';

export interface HttpApiDeps {
  readonly config: RelayConfig;
  readonly tokens: readonly ApiTokenEntry[];
  readonly spool: Spool;
  readonly gate: SendGate;
  readonly reputation: ReputationService;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  readonly events?: EventSink;
}

/** The HTTP API with its durable stores (under `<queue.dir>/api/`), started and stopped as one. */
export class HttpApi {
  private constructor(
    private readonly server: ApiServer,
    private readonly spool: Spool,
    private readonly idempotency: IdempotencyStore,
    private readonly status: StatusStore,
    readonly port: number,
  ) {}

  static async start(deps: HttpApiDeps): Promise<HttpApi> {
    const { config, spool, logger } = deps;
    const http = config.http!;
    const idempotency = await IdempotencyStore.open(config.queue.dir, logger);
    const status = await StatusStore.open(config.queue.dir, logger);
    spool.on('finished', status.onFinished);
    if (deps.tokens.length === 0) logger.warn('http API has no tokens: every request is refused', { tokensFile: http.tokensFile });
    const server = new ApiServer({
      config,
      http,
      tokens: new TokenVerifier(deps.tokens),
      submission: new ApiSubmission(deps),
      idempotency,
      status,
      spool,
      metrics: deps.metrics,
      logger,
      reputation: createReputationHandlers(deps.reputation),
    });
    try {
      const port = await server.listen();
      return new HttpApi(server, spool, idempotency, status, port);
    } catch (err) {
      spool.off('finished', status.onFinished);
      await Promise.all([idempotency.close(), status.close()]);
      throw err;
    }
  }

  /** Stops taking requests; those in progress get `graceMs`. */
  stop(graceMs: number): Promise<void> {
    return this.server.close(graceMs);
  }

  /** Closes the stores; after `stop` and after delivery stopped, so every finished message is recorded. */
  async close(): Promise<void> {
    this.spool.off('finished', this.status.onFinished);
    await Promise.all([this.idempotency.close(), this.status.close()]);
  }
}
