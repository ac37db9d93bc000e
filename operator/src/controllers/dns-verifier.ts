import { Resolver } from 'node:dns/promises';
import type { DnsRecord } from '../resources/dns-records.ts';

export interface RecordCheck {
  /** What the check found, for the DNSVerified reason. */
  readonly outcome: 'published' | 'missing' | 'mismatch' | 'failed';
  readonly result: string;
  /** The TXT values of the record's kind found at its name, for checks that read them (BulkSenderReady). */
  readonly published?: readonly string[];
}

const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN']);

/** Tags of a DKIM or DMARC record (`k=v; k=v`), whitespace-insensitive as RFC 6376 3.2 says. */
function tags(value: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of value.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) map.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ''));
  }
  return map;
}

/** Whether one published TXT value satisfies the record we asked for. */
export function matches(record: DnsRecord, published: string): boolean {
  switch (record.purpose) {
    case 'dkim':
      return tags(published).get('p') === tags(record.value).get('p');
    case 'spf': {
      // The published policy may allow more senders than we suggest; it must allow the relay.
      if (!/^v=spf1(\s|$)/i.test(published)) return false;
      const have = new Set(published.toLowerCase().split(/\s+/));
      return record.value
        .toLowerCase()
        .split(/\s+/)
        .filter((m) => m.startsWith('a:') || m.startsWith('include:') || m.startsWith('ip4:') || m.startsWith('ip6:'))
        .every((m) => have.has(m) || have.has(`+${m}`));
    }
    case 'dmarc':
      return /^v=DMARC1/i.test(published.trim()) && tags(published).has('p');
  }
}

/**
 * Looks each record up and says whether DNS serves it. Lookup failures are results, not errors:
 * they become the record's `result` and the DNSVerified condition.
 */
export class DnsVerifier {
  readonly #resolver: Resolver;

  constructor(servers: readonly string[], timeoutMs = 3000) {
    this.#resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    if (servers.length > 0) this.#resolver.setServers([...servers]);
  }

  /** An address for a host name, through the same servers (EndpointSlices of type FQDN name hosts). */
  async resolveAddress(host: string): Promise<string | undefined> {
    try {
      return (await this.#resolver.resolve4(host))[0];
    } catch {
      try {
        return (await this.#resolver.resolve6(host))[0];
      } catch {
        return undefined;
      }
    }
  }

  async check(record: DnsRecord): Promise<RecordCheck> {
    let values: string[];
    try {
      values = (await this.#resolver.resolveTxt(record.name)).map((strings) => strings.join(''));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      if (NOT_FOUND.has(code)) return { outcome: 'missing', result: `no TXT record at ${record.name}` };
      return { outcome: 'failed', result: `lookup of ${record.name} failed: ${code}` };
    }
    const relevant = values.filter((v) => (record.purpose === 'spf' ? /^v=spf1/i.test(v) : record.purpose === 'dmarc' ? /^v=DMARC1/i.test(v) : true));
    if (relevant.length === 0) return { outcome: 'missing', result: `no ${record.purpose.toUpperCase()} record at ${record.name}` };
    const published = record.purpose === 'dkim' ? {} : { published: relevant };
    if (record.purpose !== 'dkim' && relevant.length > 1) {
      return { outcome: 'mismatch', result: `${relevant.length} ${record.purpose.toUpperCase()} records at ${record.name}; there must be exactly one`, ...published };
    }
    return relevant.some((v) => matches(record, v))
      ? { outcome: 'published', result: 'published', ...published }
      : { outcome: 'mismatch', result: `the ${record.purpose.toUpperCase()} record at ${record.name} differs from the one to publish`, ...published };
  }
}
