/** Address and domain helpers shared by intake (policy, signing domain), delivery (routing) and feedback (attribution). */

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1).toLowerCase();
}

/** The configured domain an address's domain falls under (itself or a parent), if any. */
export function matchDomain(domain: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  for (const candidate of candidates) {
    if (domain === candidate || domain.endsWith(`.${candidate}`)) {
      if (!best || candidate.length > best.length) best = candidate;
    }
  }
  return best;
}
