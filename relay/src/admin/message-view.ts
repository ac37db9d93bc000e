import { queueStateOf, type QueueState } from '../spool/spool.ts';
import type { RecipientStatus, SpoolEntry } from '../spool/types.ts';

/**
 * A queued message as the admin API shows it: everything a person running `mailq` wants and
 * everything a drain needs to hand it to another replica (per-recipient state, attempts,
 * next attempt, expiry). Times are RFC 3339. Never the body (the show route adds it on request).
 */
export interface MessageView {
  readonly id: string;
  readonly state: QueueState;
  /** A delivery attempt holds it right now: actions on it answer 409. */
  readonly active: boolean;
  readonly adminHold: boolean;
  /** Held because its sending domain is paused (not persisted: re-decided at each lease). */
  readonly pausedHold: boolean;
  readonly size: number;
  /** Envelope sender; '' is the null sender (a DSN). */
  readonly from: string;
  readonly sendingDomain?: string;
  readonly createdAt: string;
  readonly ageSeconds: number;
  readonly attempts: number;
  readonly nextAttemptAt: string;
  /** When the rest bounce as expired (createdAt + queue.maxAge). */
  readonly expiresAt: string;
  readonly recipients: ReadonlyArray<{ address: string; status: RecipientStatus; lastReply?: string; updatedAt?: string }>;
  readonly origin: { listener: string; clientAddress: string; user?: string };
}

export function buildMessageView(entry: SpoolEntry, now: number, maxAge: number): MessageView {
  const m = entry.meta;
  return {
    id: m.id,
    state: queueStateOf(entry, now),
    active: entry.leased,
    adminHold: m.adminHold === true,
    pausedHold: m.held,
    size: m.size,
    from: m.from,
    ...(m.sendingDomain !== undefined ? { sendingDomain: m.sendingDomain } : {}),
    createdAt: new Date(m.createdAt).toISOString(),
    ageSeconds: Math.max(0, Math.floor((now - m.createdAt) / 1000)),
    attempts: m.attempts,
    nextAttemptAt: new Date(m.nextAttemptAt).toISOString(),
    expiresAt: new Date(m.createdAt + maxAge).toISOString(),
    recipients: m.recipients.map((r) => ({
      address: r.address,
      status: r.status,
      ...(r.lastReply !== undefined ? { lastReply: r.lastReply } : {}),
      ...(r.updatedAt !== undefined ? { updatedAt: new Date(r.updatedAt).toISOString() } : {}),
    })),
    origin: {
      listener: m.origin.listener,
      clientAddress: m.origin.clientAddress,
      ...(m.origin.user !== undefined ? { user: m.origin.user } : {}),
    },
  };
}
