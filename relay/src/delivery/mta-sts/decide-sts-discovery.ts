import type { StsRecord } from './parse-sts-record.ts';

/** A policy held in the cache: the TXT id it was fetched for and when it lapses. */
export interface CachedStsPolicyRef {
  readonly id: string;
  /** ms since the epoch: fetched at + max_age. */
  readonly expiresAt: number;
}

export type StsTxtAnswer = StsRecord | { readonly kind: 'dns-error' };

export type StsDiscovery =
  /** Apply the cached policy as it is. */
  | { readonly action: 'use-cached' }
  /** Fetch the policy; on failure fall back to the cached one when `fallback`. */
  | { readonly action: 'fetch'; readonly id: string; readonly fallback: boolean }
  /** The domain has no MTA-STS policy for us. */
  | { readonly action: 'none' };

/**
 * What to do for a recipient domain (RFC 8461 sections 3.1 and 5.1): an unexpired cached
 * policy whose id the TXT record still names is used without a fetch; a changed id means a
 * new policy to fetch, with the cached one kept if that fetch fails; a TXT record that is gone,
 * unreadable or invalid does not remove an unexpired cached policy (a domain withdraws one by
 * publishing `mode: none`, section 8.3). Without a usable cache, only a valid TXT record leads
 * to a fetch.
 */
export function decideStsDiscovery(cached: CachedStsPolicyRef | undefined, txt: StsTxtAnswer, now: number): StsDiscovery {
  const valid = cached !== undefined && cached.expiresAt > now;
  if (txt.kind === 'record') {
    if (valid && cached.id === txt.id) return { action: 'use-cached' };
    return { action: 'fetch', id: txt.id, fallback: valid };
  }
  return valid ? { action: 'use-cached' } : { action: 'none' };
}
