import { decideMxAllowed } from './decide-mx-allowed.ts';
import type { StsPolicy } from './parse-sts-policy.ts';

export type StsRoute =
  /** No policy, or `mode: none`: deliver as usual (opportunistic TLS). */
  | { readonly kind: 'plain' }
  /** Deliver as usual; the hosts the policy allows tell which deliveries count as failures. */
  | { readonly kind: 'testing'; readonly allowed: readonly string[] }
  /** Deliver only to these hosts, over verified TLS. */
  | { readonly kind: 'enforce'; readonly hosts: readonly string[] }
  /** `mode: enforce` allows none of the MX hosts: defer. */
  | { readonly kind: 'enforce-no-mx'; readonly reply: string };

/**
 * How a policy shapes delivery to a domain's MX hosts (RFC 8461 section 5): `enforce` keeps
 * only the hosts it names (in MX order) and defers when none is left; `testing` changes
 * nothing but what is reported.
 */
export function decideStsRoute(domain: string, policy: StsPolicy | undefined, mxHosts: readonly string[]): StsRoute {
  if (!policy || policy.mode === 'none') return { kind: 'plain' };
  const allowed = mxHosts.filter((h) => decideMxAllowed(policy, h));
  if (policy.mode === 'testing') return { kind: 'testing', allowed };
  if (allowed.length > 0) return { kind: 'enforce', hosts: allowed };
  return {
    kind: 'enforce-no-mx',
    reply: `451 4.7.5 MTA-STS policy of ${domain} allows none of its MX hosts (${mxHosts.slice(0, 5).join(', ')}); not delivered`,
  };
}
