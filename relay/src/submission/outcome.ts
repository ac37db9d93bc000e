/**
 * What the submission pipeline answers: the queue id once the message is fsynced, or a refusal
 * with a stable reason that each ingress maps to its own reply (see reply-codes.ts). The
 * reason is also the `reason` label of mailrelay_messages_rejected_total, so the set is closed.
 */

export type RefusalReason =
  | 'sender_domain'
  | 'header_sender_domain'
  | 'invalid_header_from'
  | 'header_too_long'
  | 'invalid_message'
  | 'message_too_big'
  | 'domain_paused'
  | 'invalid_labels'
  | 'category_paused'
  | 'recipients_suppressed'
  | 'spool_full'
  | 'spool_error'
  | 'receive_error';

export interface Refusal {
  readonly reason: RefusalReason;
  /** Reply text for the client; names no secret and no other tenant's data. */
  readonly text: string;
  readonly cause?: unknown;
  /** Which fields were wrong (`invalid_labels`), for the API's `problems`. */
  readonly problems?: ReadonlyArray<{ readonly field: string; readonly message: string }>;
}

export type SubmissionOutcome =
  /** `suppressed`: recipients left out because they unsubscribed from the message's category. */
  | { readonly accepted: true; readonly id: string; readonly size: number; readonly suppressed: readonly string[] }
  | { readonly accepted: false; readonly refusal: Refusal };

export function refuse(reason: RefusalReason, text: string, cause?: unknown): { readonly accepted: false; readonly refusal: Refusal } {
  return { accepted: false, refusal: cause === undefined ? { reason, text } : { reason, text, cause } };
}
