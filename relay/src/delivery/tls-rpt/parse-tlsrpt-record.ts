/**
 * The `_smtp._tls.<domain>` TXT record (RFC 8460 section 3): `v=TLSRPTv1; rua=<uri>[,<uri>...]`.
 * Records not starting with `v=TLSRPTv1` are discarded; anything but exactly one remaining,
 * valid record means the domain takes no reports. Only `mailto:` and `https:` URIs are kept.
 */

export type ReportUri = { readonly kind: 'mailto'; readonly address: string } | { readonly kind: 'https'; readonly url: string };

const MAX_RECORD = 4096;
/** More destinations than a domain needs; the rest are ignored. */
const MAX_URIS = 10;
const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

function parseUri(text: string): ReportUri | undefined {
  if (/^mailto:/i.test(text)) {
    // RFC 6068: an address, possibly percent-encoded, and no headers we would honour
    let address: string;
    try {
      address = decodeURIComponent(text.slice('mailto:'.length).split('?')[0]!);
    } catch {
      return undefined;
    }
    return ADDRESS.test(address) && !address.includes('..') ? { kind: 'mailto', address } : undefined;
  }
  if (/^https:\/\//i.test(text)) {
    try {
      const url = new URL(text);
      return url.protocol === 'https:' && url.hostname !== '' ? { kind: 'https', url: url.href } : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The report destinations, or undefined when the domain publishes no (single, valid) record. */
export function parseTlsRptRecord(records: readonly (readonly string[])[]): readonly ReportUri[] | undefined {
  const ours = records.map((strings) => strings.join('')).filter((text) => /^v=TLSRPTv1[ \t]*(?:;|$)/.test(text));
  if (ours.length !== 1 || ours[0]!.length > MAX_RECORD) return undefined;
  const fields = ours[0]!.split(';').map((f) => f.trim());
  if (fields.at(-1) === '') fields.pop();
  let uris: ReportUri[] | undefined;
  for (const field of fields.slice(1)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return undefined;
    if (field.slice(0, eq) !== 'rua') continue;
    if (uris) return undefined;
    uris = field
      .slice(eq + 1)
      .split(',')
      .map((u) => parseUri(u.trim()))
      .filter((u): u is ReportUri => u !== undefined)
      .slice(0, MAX_URIS);
  }
  return uris && uris.length > 0 ? uris : undefined;
}
