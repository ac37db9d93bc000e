/**
 * What to do after one webhook request, decided in one place: 2xx delivered; 5xx, 408, 429,
 * timeouts and connection errors retried with exponential backoff and full jitter until
 * `retryFor` has passed since the first failure; any other answer (4xx, and 3xx: redirects are
 * never followed) dropped, since sending it again would get the same answer.
 */

export type RequestResult = { readonly status: number } | { readonly error: string };

export type RetryDecision =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'rejected' }
  | { readonly kind: 'expired' }
  | { readonly kind: 'retry'; readonly delay: number };

export interface RetryInput {
  readonly result: RequestResult;
  /** Failed attempts so far, this one included (1 after the first failure). */
  readonly failures: number;
  /** When the first of them failed (ms since the epoch). */
  readonly firstFailureAt: number;
  readonly now: number;
  readonly retryFor: number;
  readonly maxDelay: number;
  /** In [0, 1). */
  readonly random: number;
}

const BASE_DELAY = 1000;

export function isRetryable(result: RequestResult): boolean {
  if ('error' in result) return true;
  return result.status >= 500 || result.status === 408 || result.status === 429;
}

export function decideRetry(input: RetryInput): RetryDecision {
  const { result } = input;
  if ('status' in result && result.status >= 200 && result.status < 300) return { kind: 'delivered' };
  if (!isRetryable(result)) return { kind: 'rejected' };
  const remaining = input.firstFailureAt + input.retryFor - input.now;
  if (remaining <= 0) return { kind: 'expired' };
  const ceiling = Math.min(input.maxDelay, BASE_DELAY * 2 ** Math.min(input.failures - 1, 30));
  // half fixed, half random: spread, yet never a busy loop
  const delay = Math.round(ceiling / 2 + (ceiling / 2) * input.random);
  // the last try lands at the end of the window, so retryFor is honoured in full
  return { kind: 'retry', delay: Math.max(1, Math.min(delay, remaining)) };
}
