/**
 * The operator's one error module. Every error the operator raises on purpose carries a stable
 * `code` (for logs, metrics and tests), a `cause`, and, when it came from the API server, the
 * HTTP status. Messages never contain secret data, tokens or keys.
 */

export type OperatorErrorCode =
  | 'EOP_KUBECONFIG'
  | 'EOP_API_REQUEST'
  | 'EOP_NOT_FOUND'
  | 'EOP_CONFLICT'
  | 'EOP_UNKNOWN_KIND'
  | 'EOP_APPLY_FAILED'
  | 'EOP_DELETE_FAILED'
  | 'EOP_WATCH_FAILED'
  | 'EOP_LEASE_CONFIG'
  /** A relay pod's admin API did not answer, or refused (relay-admin.ts). */
  | 'EOP_RELAY_ADMIN';

/** What the API server said in its metav1.Status when it refused a request. */
export interface ApiStatusDetail {
  readonly reason?: string;
  readonly message?: string;
  readonly causes?: readonly { readonly field?: string; readonly message?: string; readonly reason?: string }[];
}

export class OperatorError extends Error {
  readonly code: OperatorErrorCode;
  /** HTTP status of the API response behind this error, if there was one. */
  readonly status: number | undefined;
  /** The API server's Status body, when it sent one. */
  readonly api: ApiStatusDetail | undefined;

  constructor(code: OperatorErrorCode, message: string, options?: { cause?: unknown; status?: number; api?: ApiStatusDetail }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OperatorError';
    this.code = code;
    this.status = options?.status;
    this.api = options?.api;
  }
}

/** The API server's Status behind an error, looking through causes. */
export function apiStatusOf(err: unknown): ApiStatusDetail | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OperatorError && e.api) return e.api;
  }
  return undefined;
}

/**
 * "Invalid: <message>", plus any cause the message does not already spell out: the words a
 * user needs to fix the object (which field, which value), as the API server gave them.
 */
export function describeApiStatus(api: ApiStatusDetail): string {
  const message = api.message ?? '';
  const causes = (api.causes ?? []).filter((c) => c.message && !message.includes(c.message)).map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  return [[api.reason, message].filter(Boolean).join(': '), ...causes].filter(Boolean).join('; ');
}

function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** The HTTP status behind an error, looking through OperatorError causes. */
export function errorStatus(err: unknown): number | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof OperatorError && e.status !== undefined) return e.status;
  }
  return undefined;
}

export function isConflict(err: unknown): boolean {
  return errorCode(err) === 'EOP_CONFLICT' || errorStatus(err) === 409;
}

export function isNotFound(err: unknown): boolean {
  return errorCode(err) === 'EOP_NOT_FOUND' || errorStatus(err) === 404;
}

/** A short, secret-free description of an unknown error for logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
