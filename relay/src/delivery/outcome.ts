/**
 * Classifies what happened to each recipient of one SMTP transaction, in one place
 * (CONVENTIONS.md): 2xx delivered; 4xx, timeouts, connection and DNS errors deferred; 5xx
 * bounced. The reply text is kept for the recipient's state, the DSN and the logs.
 */

export type OutcomeStatus = 'delivered' | 'deferred' | 'bounced';

export interface RecipientOutcome {
  readonly recipient: string;
  readonly status: OutcomeStatus;
  /** The remote reply (`550 5.1.1 no such user`) or a local description of the failure. */
  readonly reply: string;
  /** The MX or smarthost that answered, when one did. */
  readonly remoteHost?: string;
}

interface SmtpErrorLike {
  readonly code?: string;
  readonly responseCode?: number;
  readonly response?: string;
  readonly message?: string;
  readonly recipient?: string;
  /** The SMTP step that failed, as nodemailer names it (CONN, STARTTLS, AUTH PLAIN, ...). */
  readonly command?: string;
  readonly rejectedErrors?: readonly SmtpErrorLike[];
}

export function statusOfCode(code: number): OutcomeStatus {
  if (code >= 200 && code < 300) return 'delivered';
  if (code >= 500 && code < 600) return 'bounced';
  return 'deferred';
}

/** A one-line reply for state and DSNs; multi-line server replies are joined. */
export function replyText(err: SmtpErrorLike): string {
  if (err.response) return err.response.replace(/\r?\n/g, ' ').trim().slice(0, 500);
  return `${err.code ?? 'ERROR'}: ${err.message ?? 'delivery failed'}`.slice(0, 500);
}

/** Outcome for every recipient when the whole transaction failed (connection, TLS, DATA, ...). */
export function outcomesForError(recipients: readonly string[], err: SmtpErrorLike, remoteHost?: string): RecipientOutcome[] {
  // per-recipient RCPT rejections travel on the error when every recipient was refused
  const perRecipient = new Map((err.rejectedErrors ?? []).filter((e) => e.recipient).map((e) => [e.recipient!, e]));
  return recipients.map((recipient) => {
    const specific = perRecipient.get(recipient) ?? err;
    const status = specific.responseCode ? statusOfCode(specific.responseCode) : 'deferred';
    return { recipient, status: status === 'delivered' ? 'deferred' : status, reply: replyText(specific), ...(remoteHost ? { remoteHost } : {}) };
  });
}

/**
 * Every recipient deferred: the next hop could not be reached or set up (connect, greeting,
 * STARTTLS, AUTH). Even a 5xx there says nothing about the recipients, and bouncing on it would
 * turn one misconfigured smarthost password into a flood of bounces.
 */
export function outcomesForConnectionFailure(recipients: readonly string[], err: SmtpErrorLike): RecipientOutcome[] {
  const reply = err.command && err.command !== 'CONN' ? `${err.command} failed: ${replyText(err)}` : replyText(err);
  return recipients.map((recipient) => ({ recipient, status: 'deferred', reply }));
}

/** Outcomes of a transaction that reached the end of DATA: refused recipients by their RCPT reply. */
export function outcomesForSuccess(
  recipients: readonly string[],
  info: { readonly response?: string; readonly rejectedErrors?: readonly SmtpErrorLike[] },
  remoteHost?: string,
): RecipientOutcome[] {
  const rejected = new Map((info.rejectedErrors ?? []).filter((e) => e.recipient).map((e) => [e.recipient!, e]));
  return recipients.map((recipient) => {
    const err = rejected.get(recipient);
    const host = remoteHost ? { remoteHost } : {};
    if (!err) return { recipient, status: 'delivered', reply: (info.response ?? '250 ok').replace(/\r?\n/g, ' ').slice(0, 500), ...host };
    const status = err.responseCode ? statusOfCode(err.responseCode) : 'deferred';
    return { recipient, status: status === 'delivered' ? 'deferred' : status, reply: replyText(err), ...host };
  });
}
