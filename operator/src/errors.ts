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
  | 'EOP_LEASE_CONFIG';

export class OperatorError extends Error {
  readonly code: OperatorErrorCode;
  /** HTTP status of the API response behind this error, if there was one. */
  readonly status: number | undefined;

  constructor(code: OperatorErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OperatorError';
    this.code = code;
    this.status = options?.status;
  }
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
