import { Resolver, lookup as systemLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { parseResolver } from '../config/parse-config.ts';
import { providerOf, type Provider } from './provider.ts';
import { TtlCache } from './ttl-cache.ts';

/** Where the recipients of one domain go: MX hosts in the order to try them. */
export interface Route {
  /** Domains whose MX host sets are equal share a destination queue. */
  readonly key: string;
  /** Host names (or IP literals), most preferred first, shuffled among equal preference. */
  readonly hosts: readonly string[];
  readonly provider: Provider;
}

export type RouteResult =
  | { readonly kind: 'route'; readonly route: Route }
  | { readonly kind: 'fail'; readonly status: 'bounced' | 'deferred'; readonly reply: string };

const POSITIVE_TTL_MS = 60_000;
const NEGATIVE_TTL_MS = 30_000;
/** Domains (and hosts) whose answers are kept at once; past that the least recently stored are asked again. */
const DEFAULT_MAX_CACHED = 10_000;

/**
 * MX resolution per RFC 5321 section 5.1 through the configured DNS servers (or the system's):
 * MX records in preference order, random among equals; no MX record means the domain itself
 * (its A/AAAA); a null MX (RFC 7505) or a domain that does not exist bounces at once; other DNS
 * failures defer. Results are cached briefly, per domain and per host.
 */
export class RouteResolver {
  private readonly dns = new Resolver({ timeout: 5000, tries: 2 });
  /** Routes with the MX preference of each host, so equal ones can be reshuffled per use. */
  private readonly mxCache: TtlCache<{ result: RouteResult; prefs: readonly number[] }>;
  private readonly addressCache: TtlCache<string[]>;
  private readonly custom: boolean;

  constructor(
    servers: readonly string[],
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
    maxCached = DEFAULT_MAX_CACHED,
  ) {
    this.mxCache = new TtlCache(maxCached);
    this.addressCache = new TtlCache(maxCached);
    this.custom = servers.length > 0;
    if (this.custom) {
      this.dns.setServers(
        servers.map((s) => {
          const { host, port } = parseResolver(s)!;
          return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
        }),
      );
    }
  }

  /** Entries in the caches (for tests of their bound). */
  get cached(): { domains: number; hosts: number } {
    return { domains: this.mxCache.size, hosts: this.addressCache.size };
  }

  async resolve(domain: string): Promise<RouteResult> {
    const literal = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
    if (literal && isIP(literal[1]!)) {
      return { kind: 'route', route: { key: `ip:${literal[1]}`, hosts: [literal[1]!], provider: 'other' } };
    }
    const { result, prefs } = this.mxCache.get(domain, this.now()) ?? (await this.lookupMx(domain));
    if (result.kind !== 'route') return result;
    return { kind: 'route', route: { ...result.route, hosts: this.shuffleEqual(result.route.hosts, prefs) } };
  }

  private async lookupMx(domain: string): Promise<{ result: RouteResult; prefs: readonly number[] }> {
    let result: RouteResult;
    let prefs: number[] = [];
    let ttl = POSITIVE_TTL_MS;
    try {
      const records = (await this.dns.resolveMx(domain)).sort((a, b) => a.priority - b.priority);
      const isNull = records.length === 1 && (records[0]!.exchange === '' || records[0]!.exchange === '.');
      if (isNull) {
        result = { kind: 'fail', status: 'bounced', reply: `556 5.1.10 ${domain} does not accept mail (null MX)` };
        ttl = NEGATIVE_TTL_MS;
      } else {
        const usable = records.filter((r) => r.exchange !== '' && r.exchange !== '.');
        const hosts = usable.map((r) => r.exchange.toLowerCase().replace(/\.$/, ''));
        prefs = usable.map((r) => r.priority);
        result = { kind: 'route', route: { key: `mx:${[...hosts].sort().join(',')}`, hosts, provider: providerOf(hosts[0]) } };
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENODATA') {
        // RFC 5321 5.1: no MX records, so the domain itself is the implicit MX
        prefs = [0];
        result = { kind: 'route', route: { key: `mx:${domain}`, hosts: [domain], provider: 'other' } };
      } else if (code === 'ENOTFOUND') {
        result = { kind: 'fail', status: 'bounced', reply: `550 5.1.2 Domain ${domain} does not exist (DNS NXDOMAIN)` };
        ttl = NEGATIVE_TTL_MS;
      } else {
        return { result: { kind: 'fail', status: 'deferred', reply: `451 4.4.3 DNS lookup of MX ${domain} failed: ${code ?? String(err)}` }, prefs };
      }
    }
    const answer = { result, prefs };
    this.mxCache.set(domain, answer, this.now() + ttl, this.now());
    return answer;
  }

  /** RFC 5321 5.1: hosts of equal preference are tried in random order. */
  private shuffleEqual(hosts: readonly string[], prefs: readonly number[]): string[] {
    const out = [...hosts];
    if (prefs.length !== out.length) return out;
    let start = 0;
    while (start < out.length) {
      let end = start + 1;
      while (end < out.length && prefs[end] === prefs[start]) end++;
      for (let i = end - 1; i > start; i--) {
        const j = start + Math.floor(this.random() * (i - start + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      start = end;
    }
    return out;
  }

  /**
   * IPv6 and IPv4 addresses of a host (IPv6 first); empty when it has none. Throws on DNS
   * failure when no address resolved. Without configured resolvers the system's (getaddrinfo, so /etc/hosts counts).
   */
  async addresses(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    const cached = this.addressCache.get(host, this.now());
    if (cached) return cached;
    if (!this.custom) {
      const found = await systemLookup(host, { all: true, order: 'ipv6first' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return [];
        throw err;
      });
      const addresses = found.map((a) => a.address);
      this.remember(host, addresses);
      return addresses;
    }
    const lookup = async (family: 4 | 6) => {
      try {
        return family === 4 ? await this.dns.resolve4(host) : await this.dns.resolve6(host);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
        throw err;
      }
    };
    // As Postfix does: the addresses that resolved are used even when the other family's query
    // failed (dnsmasq 2.90 answers REFUSED for AAAA of a name it holds only an A record for);
    // only when neither resolved does the failure defer the mail.
    const [v6, v4] = await Promise.allSettled([lookup(6), lookup(4)]);
    const addresses = [...(v6.status === 'fulfilled' ? v6.value : []), ...(v4.status === 'fulfilled' ? v4.value : [])];
    if (addresses.length === 0) {
      const failed = [v6, v4].find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    this.remember(host, addresses);
    return addresses;
  }

  /** TXT records of a name (each a list of character-strings); 'none' when it has none or does not exist. */
  async txt(name: string): Promise<string[][] | 'none'> {
    try {
      return await this.dns.resolveTxt(name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') return 'none';
      throw err;
    }
  }

  /**
   * A `lookup` for node:net and node:https that resolves through the same servers, so HTTPS
   * fetches made for delivery (MTA-STS policies) see the DNS that MX delivery sees.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.addresses(hostname).then(
      (found) => {
        const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
        const usable = found.map((address) => ({ address, family: isIP(address) })).filter((a) => family === 0 || a.family === family);
        if (usable.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 4);
        } else if (options.all) {
          (callback as unknown as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, usable);
        } else {
          callback(null, usable[0]!.address, usable[0]!.family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 4),
    );
  };

  private remember(host: string, addresses: string[]): void {
    const now = this.now();
    this.addressCache.set(host, addresses, now + (addresses.length ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS), now);
  }
}
