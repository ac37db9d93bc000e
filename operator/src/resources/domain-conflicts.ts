import type { SendingDomain } from '../api/v1alpha1/types.ts';

/** Why a SendingDomain is left out of its relay's config: another object claimed the domain first. */
export interface DomainConflict {
  /** The SendingDomain that keeps the domain. */
  readonly winner: string;
  readonly domain: string;
}

export interface DomainConflicts {
  /** The SendingDomains the relay sends for, one per domain, in input order. */
  readonly accepted: SendingDomain[];
  /** By SendingDomain name: the objects left out. */
  readonly conflicts: ReadonlyMap<string, DomainConflict>;
}

/**
 * Which SendingDomains of one relay may go into its relay.yaml. The relay refuses a config that
 * names a domain twice (and would then refuse mail for every domain), so of several objects for
 * one domain the oldest keeps it: by creationTimestamp, then by name. An object created later
 * never displaces one already sending. Domains compare case-insensitively, as the relay does. Pure.
 */
export function decideDomainConflicts(domains: readonly SendingDomain[]): DomainConflicts {
  const order = [...domains].sort((a, b) => created(a) - created(b) || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
  const owner = new Map<string, string>();
  const conflicts = new Map<string, DomainConflict>();
  for (const sd of order) {
    const domain = sd.spec.domain.toLowerCase();
    const winner = owner.get(domain);
    if (winner === undefined) owner.set(domain, sd.metadata.name);
    else conflicts.set(sd.metadata.name, { winner, domain });
  }
  return { accepted: domains.filter((sd) => !conflicts.has(sd.metadata.name)), conflicts };
}

function created(sd: SendingDomain): number {
  // A Date by its type, an RFC 3339 string as the cache holds it: new Date takes both.
  const t = sd.metadata.creationTimestamp === undefined ? Number.NaN : new Date(sd.metadata.creationTimestamp).getTime();
  // Not yet stored (no timestamp): it is the newest.
  return Number.isNaN(t) ? Number.MAX_SAFE_INTEGER : t;
}
