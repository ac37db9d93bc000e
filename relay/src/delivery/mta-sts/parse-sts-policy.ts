/**
 * The policy file served at `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461
 * section 3.2): CRLF- or LF-separated `key: value` lines with `version: STSv1`, `mode`
 * (`enforce`, `testing`, `none`), `max_age` (seconds, at most 31557600) and one `mx` line per
 * allowed MX host pattern (`mail.example.com` or `*.example.com`). Unknown keys are extensions
 * and ignored; a repeated single-valued key keeps its first value. One pass over the text.
 */

export type StsMode = 'enforce' | 'testing' | 'none';

export interface StsPolicy {
  readonly mode: StsMode;
  /** Seconds the policy may be cached. */
  readonly maxAge: number;
  /** Lower-cased host names or `*.` wildcards, without a final dot. */
  readonly mx: readonly string[];
}

/** RFC 8461 section 3.2: the largest max_age a sender need honour (one year). */
export const MAX_POLICY_AGE = 31_557_600;
/** RFC 8461 section 3.3: senders may refuse a policy body larger than 64 KiB. */
export const MAX_POLICY_BYTES = 64 * 1024;
/** More mx lines than any real policy has; a bound on what one policy keeps in memory. */
const MAX_MX = 100;

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function isMxPattern(value: string): boolean {
  const host = value.startsWith('*.') ? value.slice(2) : value;
  if (host.length === 0 || host.length > 253) return false;
  const labels = host.split('.');
  return labels.length >= 2 && labels.every((l) => LABEL.test(l));
}

export class StsPolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StsPolicyError';
  }
}

/** The policy, or throws StsPolicyError saying what is wrong (RFC 8460 `sts-policy-invalid`). */
export function parseStsPolicy(text: string): StsPolicy {
  if (Buffer.byteLength(text, 'utf8') > MAX_POLICY_BYTES) throw new StsPolicyError(`policy is larger than ${MAX_POLICY_BYTES} bytes`);
  const single = new Map<string, string>();
  const mx: string[] = [];
  for (const rawLine of text.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    // String#trim, not a /[ \t]+$/ replace: that regex is quadratic on long runs of blanks
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new StsPolicyError('a line is not "key: value"');
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (!KEY.test(key)) throw new StsPolicyError('a key is not a valid field name');
    if (key === 'mx') {
      const host = value.toLowerCase().replace(/\.$/, '');
      if (!isMxPattern(host)) throw new StsPolicyError('an mx value is not a host name or *. wildcard');
      if (mx.length >= MAX_MX) throw new StsPolicyError(`more than ${MAX_MX} mx lines`);
      mx.push(host);
    } else if (!single.has(key)) {
      single.set(key, value);
    }
  }
  if (single.get('version') !== 'STSv1') throw new StsPolicyError('version is not STSv1');
  const mode = single.get('mode');
  if (mode !== 'enforce' && mode !== 'testing' && mode !== 'none') throw new StsPolicyError('mode is not enforce, testing or none');
  const age = single.get('max_age');
  if (age === undefined || !/^[0-9]{1,10}$/.test(age)) throw new StsPolicyError('max_age is not a number of seconds');
  if (mode !== 'none' && mx.length === 0) throw new StsPolicyError('no mx line');
  return { mode, maxAge: Math.min(Number(age), MAX_POLICY_AGE), mx };
}
