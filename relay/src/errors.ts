/**
 * The relay's one error module. Every error the relay raises on purpose carries a stable
 * `code` (for logs, metrics and tests) and, where it ends an SMTP exchange, the reply code and
 * enhanced status code to send. Messages never contain bodies, passwords, tokens or keys.
 */

export type RelayErrorCode =
  | 'ERELAY_CONFIG_INVALID'
  | 'ERELAY_CONFIG_READ'
  | 'ERELAY_SPOOL_LOCKED'
  | 'ERELAY_SPOOL_FULL'
  | 'ERELAY_SPOOL_IO'
  | 'ERELAY_SPOOL_CLOSED'
  | 'ERELAY_TLS_LOAD'
  | 'ERELAY_USERS_INVALID'
  | 'ERELAY_TOKENS_INVALID'
  | 'ERELAY_LISTEN'
  | 'ERELAY_AUTH_BUSY'
  /** A malformed handoff frame from a draining peer (nothing of that request was acknowledged). */
  | 'ERELAY_HANDOFF_INVALID'
  | 'ERELAY_EVENTS_IO'
  | 'ERELAY_WEBHOOK_SECRET';

export class RelayError extends Error {
  readonly code: RelayErrorCode;

  constructor(code: RelayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RelayError';
    this.code = code;
  }
}

/** An SMTP reply to send instead of the default one; smtp-server reads `responseCode`. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  readonly enhancedCode: string;
  /** Stable label for `mailrelay_messages_rejected_total{reason}`. */
  readonly reason: string;

  constructor(responseCode: number, enhancedCode: string, text: string, reason: string, options?: { cause?: unknown }) {
    // smtp-server sends `message` as the reply text; the enhanced code leads it (see enhanced-codes.ts).
    super(`${enhancedCode} ${text}`, options);
    this.name = 'SmtpReplyError';
    this.responseCode = responseCode;
    this.enhancedCode = enhancedCode;
    this.reason = reason;
  }
}

/**
 * An HTTP API answer other than success: the status, a stable `error` code for clients, and
 * the problems found (every bad field of a request at once). `reason` is the label of
 * `mailrelay_messages_rejected_total`.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
    readonly reason: string,
    readonly extra: { readonly problems?: ReadonlyArray<{ field: string; message: string }>; readonly retryAfter?: number; readonly body?: Record<string, unknown> } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
  }
}

export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** A short, secret-free description of an unknown error for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
