import type { DeferralMode, EventType } from '../config/schema.ts';
import type { JournalRecord } from './event-journal.ts';

/** What decides whether a webhook receives an event. */
export interface WebhookFilter {
  /** A sending domain, or undefined for a MailRelay-level webhook (every event). */
  readonly domain: string | undefined;
  readonly events: readonly EventType[];
  readonly deferrals: DeferralMode;
}

/**
 * Whether `record` goes to the webhook: its kind subscribed; a domain's webhook only its own
 * domain's events (never another tenant's, never those of no domain); and, for `deferred`,
 * the webhook's deferral mode (see DeferralPhase).
 */
export function decideRoute(filter: WebhookFilter, record: JournalRecord): boolean {
  const { event } = record;
  if (!filter.events.includes(event.type)) return false;
  if (filter.domain !== undefined && event.domain !== filter.domain) return false;
  if (event.type !== 'deferred') return true;
  const phase = record.phase ?? 'middle';
  if (filter.deferrals === 'every') return phase !== 'last';
  return phase !== 'middle';
}
