import type { LabelInput } from './message-labels.ts';

/** What an ingress hands the submission pipeline besides the message bytes. */

/**
 * Who submits the message. An authenticated SMTP user or an API token may send as its
 * `allowedSenderDomains` (empty: any configured sending domain); a client from trustedNetworks
 * without AUTH may send as any configured sending domain.
 */
export type Submitter =
  | { readonly kind: 'user' | 'token'; readonly name: string; readonly allowedSenderDomains: readonly string[] }
  | { readonly kind: 'trusted' };

export interface SubmissionEnvelope {
  /** Envelope sender (MAIL FROM or the API's `from`); '' is the null sender. */
  readonly sender: string;
  readonly recipients: readonly string[];
  readonly submitter: Submitter;
  /** Listener name (`http` for the API): the `listener` metric label and origin. */
  readonly listener: string;
  readonly clientAddress: string;
  readonly helo?: string;
  /** RFC 3848 `with` clause of the Received: line (`ESMTPSA`, `HTTP`). */
  readonly protocol: string;
  readonly tlsVersion?: string;
  /** Fields every log line about this message carries (sessionId, listener, remoteAddress). */
  readonly logFields?: Readonly<Record<string, string>>;
  /**
   * The API's `category`, `tags` and `metadata` as given (checked by the pipeline). Absent:
   * they come from the X-Mail-Relay-* header fields, as over SMTP.
   */
  readonly labels?: LabelInput;
}
