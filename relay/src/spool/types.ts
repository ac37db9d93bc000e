/** What the spool keeps about each message; persisted in its MESSAGE and STATE records. */

export type RecipientStatus = 'pending' | 'delivered' | 'bounced';

export interface RecipientState {
  readonly address: string;
  readonly status: RecipientStatus;
  /** Last reply from the next hop, e.g. `451 4.7.1 try later` (kept for DSNs, logs and the API). */
  readonly lastReply?: string;
  readonly updatedAt?: number;
}

export interface MessageOrigin {
  readonly listener: string;
  readonly clientAddress: string;
  readonly user?: string;
  readonly helo?: string;
}

export interface MessageMeta {
  readonly id: string;
  /** Envelope sender; '' is the null sender. */
  readonly from: string;
  readonly recipients: readonly RecipientState[];
  readonly createdAt: number;
  /** Body size in bytes. */
  readonly size: number;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  /** Parked because its sending domain is paused; in memory only (see Spool.hold). */
  readonly held: boolean;
  /** Held by an administrator (`mail-relay queue hold`); persisted in STATE records, survives restarts. */
  readonly adminHold?: boolean;
  /** The configured sending domain the message belongs to, if any. */
  readonly sendingDomain?: string;
  /** Domain of the From: header, lower case. */
  readonly headerFromDomain?: string;
  /**
   * The one configured domain whose DKIM key may sign the message, decided at acceptance from
   * what its submitter may send as; null: none. The signer uses nothing else, whatever the
   * headers say. Records written before this field get it from parse-meta.ts.
   */
  readonly signingDomain?: string | null;
  /** Category of the message (X-Mail-Relay-Category or the API's `category`), as submitted. */
  readonly category?: string;
  /** Tags (X-Mail-Relay-Tags or the API's `tags`), bounded in count and length. */
  readonly tags?: readonly string[];
  /** Small key/values (X-Mail-Relay-Metadata or the API's `metadata`). */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly origin: MessageOrigin;
  /** File under large/ holding the body, for bodies too big to keep inline. */
  readonly bodyFile?: string;
  /** The Message-ID: field's value as stored (the submitter's, or the one the relay added), for events. */
  readonly messageId?: string;
}

/** The mutable part of a message, written as a STATE record. */
export interface MessageState {
  readonly recipients: readonly RecipientState[];
  readonly attempts: number;
  readonly nextAttemptAt: number;
  /** Written only when true; a STATE record without it releases an admin hold. */
  readonly adminHold?: boolean;
}

export type BodyLocation = { readonly segment: number; readonly offset: number; readonly length: number } | { readonly file: string };

export interface SpoolEntry {
  meta: MessageMeta;
  readonly body: BodyLocation;
  /** Segment holding the newest record of this message (refcounted for segment removal). */
  stateSegment: number;
  leased: boolean;
}

export interface QueueStats {
  readonly ready: number;
  readonly deferred: number;
  readonly held: number;
  readonly oldestCreatedAt: number | undefined;
}
