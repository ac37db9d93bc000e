import type { EventType } from '../config/schema.ts';

/**
 * The JSON bodies webhooks receive (one object, or an array of them with `batch`), as the
 * OpenAPI document describes them (relay/src/api/openapi.ts, components.schemas). Every field
 * of EventBase is always present (null or empty when unknown), so receivers need no guessing.
 */
export interface EventBase {
  /** Stable across retries and restarts: receivers de-duplicate on it. */
  readonly id: string;
  readonly type: EventType;
  /** RFC 3339, when the reported state change happened. */
  readonly time: string;
  /** The Message-ID: field's value, when known. */
  readonly messageId: string | null;
  readonly queueId: string | null;
  /** The sending domain, lower case; null for mail of no configured domain (MailRelay webhooks only). */
  readonly domain: string | null;
  readonly recipient: string | null;
  readonly category: string | null;
  readonly tags: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
}

export interface EventSubmitter {
  /** `user` (SMTP AUTH), `token` (HTTP API) or `trusted` (a trustedNetworks client without AUTH). */
  readonly kind: 'user' | 'token' | 'trusted';
  readonly name: string | null;
  readonly listener: string;
  readonly clientAddress: string;
}

export interface AcceptedEvent extends EventBase {
  readonly type: 'accepted';
  readonly sender: string;
  readonly submitter: EventSubmitter;
  readonly size: number;
}

export interface DeliveredEvent extends EventBase {
  readonly type: 'delivered';
  readonly attempt: number;
  readonly reply: string;
  /** The MX host or smarthost that took the message. */
  readonly remoteHost: string | null;
  /** `TLSv1.3`, `TLSv1.2`; null: the session was not encrypted. */
  readonly tls: string | null;
}

export interface DeferredEvent extends EventBase {
  readonly type: 'deferred';
  readonly attempt: number;
  readonly reply: string;
  readonly remoteHost: string | null;
  /** RFC 3339; when the next attempt is due. */
  readonly nextAttemptAt: string;
}

export interface BouncedEvent extends EventBase {
  readonly type: 'bounced';
  readonly attempt: number;
  /** `hard`: the address does not exist or is disabled; `soft`: any other permanent failure (mailbox full, policy, content). */
  readonly bounceType: 'hard' | 'soft';
  /** RFC 3463 enhanced status, e.g. `5.1.1`. */
  readonly status: string;
  /** The remote reply or the local reason. */
  readonly diagnostic: string;
  readonly remoteHost: string | null;
  /** Whether a DSN went to the envelope sender (never for the null sender). */
  readonly dsnSent: boolean;
  /** `delivery`: refused while the relay delivered; `dsn`: a DSN arrived at the VERP address later; `admin`: `mail-relay queue bounce`. */
  readonly source: 'delivery' | 'dsn' | 'admin';
}

export interface ExpiredEvent extends EventBase {
  readonly type: 'expired';
  readonly attempt: number;
  /** The last reply before the message outlived queue.maxAge. */
  readonly reply: string;
  readonly dsnSent: boolean;
}

export interface ComplainedEvent extends EventBase {
  readonly type: 'complained';
  /** The ARF Feedback-Type (`abuse`, `fraud`, ...). */
  readonly feedbackType: string;
  readonly userAgent: string | null;
}

export interface SuppressedEvent extends EventBase {
  readonly type: 'suppressed';
  readonly sender: string;
  readonly listener: string;
}

export interface RejectedEvent extends EventBase {
  readonly type: 'rejected';
  readonly sender: string;
  /** The stable refusal reason (`domain_paused`, `header_sender_domain`, ...). */
  readonly reason: string;
  /** The text the client was answered with. */
  readonly text: string;
  readonly listener: string;
}

export interface UnsubscribedEvent extends EventBase {
  readonly type: 'unsubscribed';
  /** How the recipient unsubscribed: `one-click` (RFC 8058), `mailto` or `api`. */
  readonly method: 'one-click' | 'mailto' | 'api';
}

export type RelayEvent =
  | AcceptedEvent
  | DeliveredEvent
  | DeferredEvent
  | BouncedEvent
  | ExpiredEvent
  | ComplainedEvent
  | SuppressedEvent
  | RejectedEvent
  | UnsubscribedEvent;

/**
 * Where a `deferred` event stands among a recipient's deferrals, for `deferrals:
 * first-and-last` webhooks: `first` goes to every webhook, `middle` only to `every` ones, and
 * `last` (the last deferral, written again just before the final outcome, same id) only to
 * `first-and-last` ones.
 */
export type DeferralPhase = 'first' | 'middle' | 'last';

/** What the emitting code hands the event journal. */
export interface EmittedEvent {
  readonly event: RelayEvent;
  readonly phase?: DeferralPhase;
}

/** Where the relay's components emit events; resolves once they are on disk. */
export interface EventSink {
  emit(events: readonly EmittedEvent[]): Promise<void>;
}
