import addressparser from 'nodemailer/lib/addressparser';

/** Address and domain helpers shared by intake (policy), delivery (routing) and DKIM (key choice). */

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1).toLowerCase();
}

/** The domain of the first address in a From: header value, lower case. */
export function headerFromDomain(fromHeader: string | undefined): string | undefined {
  if (!fromHeader) return undefined;
  const first = addressparser(fromHeader, { flatten: true })[0];
  const domain = first && 'address' in first && first.address ? domainOf(first.address) : '';
  return domain || undefined;
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
