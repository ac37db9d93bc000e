import type { StsPolicy } from './parse-sts-policy.ts';

/**
 * Whether an MX host may receive mail under a policy (RFC 8461 section 4.1): an exact,
 * case-insensitive match of a policy `mx` line, or a `*.` wildcard that stands for exactly one
 * leftmost label (`*.example.com` matches `mx1.example.com`, not `example.com` nor
 * `a.b.example.com`).
 */
export function decideMxAllowed(policy: Pick<StsPolicy, 'mx'>, mxHost: string): boolean {
  const host = mxHost.toLowerCase().replace(/\.$/, '');
  return policy.mx.some((pattern) => {
    if (!pattern.startsWith('*.')) return pattern === host;
    const suffix = pattern.slice(1);
    if (!host.endsWith(suffix)) return false;
    const label = host.slice(0, host.length - suffix.length);
    return label.length > 0 && !label.includes('.');
  });
}
