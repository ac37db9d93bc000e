import addressparser from 'nodemailer/lib/addressparser';

/** Address and domain helpers shared by intake (policy, signing domain), delivery (routing) and feedback (attribution). */

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at === -1 ? '' : address.slice(at + 1).toLowerCase();
}

/**
 * `addr@domain` or `Plain Name <addr@domain>`: most From: headers. Anything with quotes,
 * comments, groups, encoded words or more than one address goes to the full parser.
 */
const SIMPLE_FROM = /^[ \t]*(?:[A-Za-z0-9 ._-]*<)?[A-Za-z0-9._+-]+@([A-Za-z0-9.-]+)>?[ \t]*$/;

/** The domain of the first address in a From: header value, lower case. */
export function headerFromDomain(fromHeader: string | undefined): string | undefined {
  if (!fromHeader) return undefined;
  const simple = SIMPLE_FROM.exec(fromHeader);
  // the pattern lets `<` and `>` through unpaired; only a matched pair (or none) is simple
  if (simple && fromHeader.includes('<') === fromHeader.includes('>')) return simple[1]!.toLowerCase();
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
