import type { MessageMeta, RecipientState } from '../spool/types.ts';

/** The answer of `GET /v1/messages/{id}`. */
export interface MessageStatus {
  readonly id: string;
  readonly createdAt: string;
  /** `queued` while any recipient is pending, then `finished`. */
  readonly state: 'queued' | 'finished';
  readonly recipients: ReadonlyArray<{
    readonly recipient: string;
    readonly state: 'queued' | 'deferred' | 'delivered' | 'bounced';
    readonly reply?: string;
    readonly updatedAt?: string;
  }>;
}

/** What is kept of a message once it has left the spool. */
export interface FinishedMessage {
  readonly id: string;
  /** Name of the API token that sent it. */
  readonly owner: string;
  readonly createdAt: number;
  readonly recipients: readonly RecipientState[];
}

/** The API token a spooled message came from, if it came through the API. */
export function apiOwner(meta: Pick<MessageMeta, 'origin'>): string | undefined {
  return meta.origin.listener === 'http' ? meta.origin.user : undefined;
}

export function buildMessageStatus(m: { readonly id: string; readonly createdAt: number; readonly recipients: readonly RecipientState[] }): MessageStatus {
  return {
    id: m.id,
    createdAt: new Date(m.createdAt).toISOString(),
    state: m.recipients.some((r) => r.status === 'pending') ? 'queued' : 'finished',
    recipients: m.recipients.map((r) => ({
      recipient: r.address,
      // a pending recipient with a reply has been tried and deferred
      state: r.status === 'pending' ? (r.lastReply ? 'deferred' : 'queued') : r.status,
      ...(r.lastReply ? { reply: r.lastReply } : {}),
      ...(r.updatedAt ? { updatedAt: new Date(r.updatedAt).toISOString() } : {}),
    })),
  };
}
