import { createHash } from 'node:crypto';
import type { EventType } from '../config/schema.ts';
import type { MessageMeta } from '../spool/types.ts';
import type {
  AcceptedEvent,
  BouncedEvent,
  ComplainedEvent,
  DeferredEvent,
  DeliveredEvent,
  EventBase,
  EventSubmitter,
  ExpiredEvent,
  RejectedEvent,
  SuppressedEvent,
  UnsubscribedEvent,
} from './event-types.ts';

/**
 * Pure builders of every event kind (no clock, no I/O: the caller passes the time). Ids are
 * derived from what the event is about, so the same state change written twice (a crash
 * between the event journal and the spool, an attempt replayed after a restart) carries the
 * same id and receivers can de-duplicate.
 */

/** `evt_` and 32 hex digits of SHA-256 over (key, recipient, type, attempt). */
export function eventId(key: string, recipient: string | null, type: EventType, attempt: number): string {
  const digest = createHash('sha256').update(`${key}\0${recipient ?? ''}\0${type}\0${attempt}`).digest('hex');
  return `evt_${digest.slice(0, 32)}`;
}

/** What a message's events share, read from its spool metadata. */
export interface MessageFacts {
  readonly queueId: string;
  readonly messageId?: string;
  readonly domain?: string;
  readonly category?: string;
  readonly tags?: readonly string[];
  readonly metadata?: Readonly<Record<string, string>>;
}

export function messageFacts(meta: MessageMeta): MessageFacts {
  return {
    queueId: meta.id,
    ...(meta.messageId !== undefined ? { messageId: meta.messageId } : {}),
    ...(meta.sendingDomain !== undefined ? { domain: meta.sendingDomain } : {}),
    ...(meta.category !== undefined ? { category: meta.category } : {}),
    ...(meta.tags !== undefined ? { tags: meta.tags } : {}),
    ...(meta.metadata !== undefined ? { metadata: meta.metadata } : {}),
  };
}

function base<T extends EventType>(type: T, facts: Partial<MessageFacts>, recipient: string | null, time: number, id: string): EventBase & { type: T } {
  return {
    id,
    type,
    time: new Date(time).toISOString(),
    messageId: facts.messageId ?? null,
    queueId: facts.queueId ?? null,
    domain: facts.domain ?? null,
    recipient,
    category: facts.category ?? null,
    tags: [...(facts.tags ?? [])],
    metadata: { ...(facts.metadata ?? {}) },
  };
}

function messageBase<T extends EventType>(type: T, facts: MessageFacts, recipient: string, attempt: number, time: number): EventBase & { type: T } {
  return base(type, facts, recipient, time, eventId(facts.queueId, recipient, type, attempt));
}

/** One `accepted` event per recipient of a queued message. */
export function buildAcceptedEvents(facts: MessageFacts, input: { sender: string; recipients: readonly string[]; submitter: EventSubmitter; size: number; time: number }): AcceptedEvent[] {
  return input.recipients.map((recipient) => ({
    ...messageBase('accepted', facts, recipient, 0, input.time),
    sender: input.sender,
    submitter: input.submitter,
    size: input.size,
  }));
}

export interface AttemptInput {
  readonly recipient: string;
  /** 1 for the first delivery attempt. */
  readonly attempt: number;
  readonly reply: string;
  readonly remoteHost?: string;
  readonly time: number;
}

export function buildDeliveredEvent(facts: MessageFacts, input: AttemptInput & { tls?: string }): DeliveredEvent {
  return {
    ...messageBase('delivered', facts, input.recipient, input.attempt, input.time),
    attempt: input.attempt,
    reply: input.reply,
    remoteHost: input.remoteHost ?? null,
    tls: input.tls ?? null,
  };
}

export function buildDeferredEvent(facts: MessageFacts, input: AttemptInput & { nextAttemptAt: number }): DeferredEvent {
  return {
    ...messageBase('deferred', facts, input.recipient, input.attempt, input.time),
    attempt: input.attempt,
    reply: input.reply,
    remoteHost: input.remoteHost ?? null,
    nextAttemptAt: new Date(input.nextAttemptAt).toISOString(),
  };
}

/**
 * `hard` when the address itself is the problem (RFC 3463 X.1.x: bad mailbox or domain, and
 * X.2.1: disabled) or the status says nothing more (5.0.0); `soft` for the rest (mailbox full,
 * message too big, policy and spam blocks), which may pass another day.
 */
export function decideBounceType(status: string): 'hard' | 'soft' {
  return /^5\.(1\.\d+|2\.1|0\.0)$/.test(status) ? 'hard' : 'soft';
}

export function buildBouncedEvent(
  facts: MessageFacts,
  input: AttemptInput & { status: string; dsnSent: boolean; source: BouncedEvent['source'] },
): BouncedEvent {
  return {
    ...messageBase('bounced', facts, input.recipient, input.attempt, input.time),
    attempt: input.attempt,
    bounceType: decideBounceType(input.status),
    status: input.status,
    diagnostic: input.reply,
    remoteHost: input.remoteHost ?? null,
    dsnSent: input.dsnSent,
    source: input.source,
  };
}

export function buildExpiredEvent(facts: MessageFacts, input: AttemptInput & { dsnSent: boolean }): ExpiredEvent {
  return {
    ...messageBase('expired', facts, input.recipient, input.attempt, input.time),
    attempt: input.attempt,
    reply: input.reply,
    dsnSent: input.dsnSent,
  };
}

/** A complaint counts once per recipient of a message (the feedback ledger), so its id needs no attempt. */
export function buildComplainedEvent(facts: MessageFacts, input: { recipient: string | null; feedbackType: string; userAgent?: string; time: number }): ComplainedEvent {
  return {
    ...base('complained', facts, input.recipient, input.time, eventId(facts.queueId, input.recipient, 'complained', 0)),
    feedbackType: input.feedbackType,
    userAgent: input.userAgent ?? null,
  };
}

/** A refused recipient: no message was queued, so `key` (unique per refusal) stands for the queue id in the event id. */
export function buildSuppressedEvent(input: { key: string; domain: string; recipient: string; sender: string; listener: string; time: number }): SuppressedEvent {
  return {
    ...base('suppressed', { domain: input.domain }, input.recipient, input.time, eventId(input.key, input.recipient, 'suppressed', 0)),
    sender: input.sender,
    listener: input.listener,
  };
}

/**
 * A refused transaction: one event per recipient, or one with recipient null when it was
 * refused before any (MAIL FROM). `domain` only when the submitter may send for it, so a
 * tenant's webhook never hears of another tenant's attempts.
 */
export function buildRejectedEvents(input: {
  key: string;
  queueId?: string;
  domain?: string;
  recipients: readonly string[];
  sender: string;
  reason: string;
  text: string;
  listener: string;
  time: number;
}): RejectedEvent[] {
  const recipients = input.recipients.length > 0 ? input.recipients : [null];
  const facts = { ...(input.queueId ? { queueId: input.queueId } : {}), ...(input.domain ? { domain: input.domain } : {}) };
  return recipients.map((recipient) => ({
    ...base('rejected', facts, recipient, input.time, eventId(input.key, recipient, 'rejected', 0)),
    sender: input.sender,
    reason: input.reason,
    text: input.text,
    listener: input.listener,
  }));
}

/**
 * A recipient unsubscribed (one-click or mailto): the token names the domain, category and
 * recipient, not the message, so `key` (unique per unsubscribe) stands for the queue id.
 */
export function buildUnsubscribedEvent(input: { key: string; domain: string; category?: string; recipient: string; method: UnsubscribedEvent['method']; time: number }): UnsubscribedEvent {
  const facts = { domain: input.domain, ...(input.category ? { category: input.category } : {}) };
  return { ...base('unsubscribed', facts, input.recipient, input.time, eventId(input.key, input.recipient, 'unsubscribed', 0)), method: input.method };
}
