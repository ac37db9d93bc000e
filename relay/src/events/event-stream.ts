import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RelayConfig, WebhookConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import { EventJournal } from './event-journal.ts';
import type { EmittedEvent, EventSink } from './event-types.ts';
import { WebhookDispatcher } from './webhook-dispatcher.ts';

export interface EventStreamOptions {
  /** Tests shrink segments to see rotation and the backlog bound at small sizes. */
  readonly segmentSize?: number;
}

/**
 * The relay's events: the journal every emitter writes to and one dispatcher per configured
 * webhook (MailRelay-level ones with scope `relay`, each domain's with its domain). Without any
 * webhook there is no journal and emitting costs nothing.
 */
export class EventStream implements EventSink {
  private constructor(
    private readonly journal: EventJournal,
    private readonly dispatchers: readonly WebhookDispatcher[],
    private readonly metrics: RelayMetrics,
  ) {}

  static async open(config: RelayConfig, metrics: RelayMetrics, logger: Logger, options: EventStreamOptions = {}): Promise<EventStream | undefined> {
    const hooks: Array<{ scope: string; webhook: WebhookConfig }> = [
      ...config.webhooks.map((webhook) => ({ scope: 'relay', webhook })),
      ...config.domains.flatMap((d) => (d.webhooks ?? []).map((webhook) => ({ scope: d.name, webhook }))),
    ];
    if (hooks.length === 0) return undefined;
    const dir = join(config.queue.dir, 'events');
    const cursorDir = join(dir, 'cursors');
    await mkdir(cursorDir, { recursive: true });
    const journal = await EventJournal.open(dir, { maxBytes: config.events.maxBacklog, ...(options.segmentSize ? { segmentSize: options.segmentSize } : {}) });
    const dispatchers: WebhookDispatcher[] = [];
    for (const { scope, webhook } of hooks) {
      dispatchers.push(await WebhookDispatcher.open({ journal, webhook, scope, cursorDir, maxRetryDelay: config.events.maxRetryDelay, metrics, logger }));
    }
    journal.readerPositions = () => dispatchers.map((d) => d.position);
    journal.onOverflow = async (segment) => {
      await Promise.all(dispatchers.map((d) => d.abandon(segment)));
    };
    metrics.observeWebhooks(() => hooks.map(({ scope, webhook }, i) => ({ scope, webhook: webhook.name, ...dispatchers[i]!.stats() })));
    // segments left from webhooks removed since, or already passed by everyone
    await journal.trim();
    for (const d of dispatchers) d.start();
    return new EventStream(journal, dispatchers, metrics);
  }

  emit(events: readonly EmittedEvent[]): Promise<void> {
    for (const { event } of events) this.metrics.eventsEmitted.inc({ type: event.type });
    return this.journal.append(events);
  }

  /** Stops the dispatchers (their cursors saved), then the journal. */
  async close(): Promise<void> {
    await Promise.all(this.dispatchers.map((d) => d.stop()));
    await this.journal.close();
  }
}
