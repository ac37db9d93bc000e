import { isIP } from 'node:net';
import { SmtpReplyError } from '../errors.ts';

/**
 * Fair shares of the SMTP listeners between client addresses, after Postfix's anvil
 * (`smtpd_client_connection_count_limit`, `smtpd_client_connection_rate_limit`): one client
 * cannot take every connection slot, nor open connections faster than the limit.
 *
 * An IPv6 client usually holds a whole /64, so IPv6 addresses are counted per /64. The tables
 * are bounded: the open-connection counts by the relay's own connection limit (an address
 * leaves the table with its last connection), the rate buckets by `maxTracked`; when that is
 * reached, expired buckets go first, then the least recently seen.
 */

const RATE_WINDOW_MS = 60_000;
const DEFAULT_MAX_TRACKED = 100_000;

export interface ClientLimitSettings {
  readonly maxConnectionsPerClient: number;
  /** Connections per minute; 0 means no limit. */
  readonly maxConnectionRatePerClient: number;
}

/** The table key of a client address: IPv4 (also when IPv4-mapped) as is, IPv6 by its /64. */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.split('%')[0]!;
  if (isIP(bare) !== 6) return bare;
  return `${expandIpv6(bare).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address (already validated by isIP), without leading zeros. */
function expandIpv6(address: string): string[] {
  let text = address.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const middle = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...middle, ...right].map((group) => group.replace(/^0+(?=.)/, ''));
}

export type ClientVerdict = 'accept' | 'too_many_client_connections' | 'client_connection_rate';

/** Whether one more connection from a client is within its share. */
export function decideClientAdmission(input: {
  readonly open: number;
  /** Tokens left in the client's rate bucket, before this connection. */
  readonly tokens: number;
  readonly rateExempt: boolean;
  readonly settings: ClientLimitSettings;
}): ClientVerdict {
  if (input.open >= input.settings.maxConnectionsPerClient) return 'too_many_client_connections';
  if (!input.rateExempt && input.settings.maxConnectionRatePerClient > 0 && input.tokens < 1) return 'client_connection_rate';
  return 'accept';
}

export function clientRefusal(verdict: Exclude<ClientVerdict, 'accept'>): SmtpReplyError {
  return verdict === 'too_many_client_connections'
    ? new SmtpReplyError(421, '4.7.0', 'Too many connections from your address, try again later', verdict)
    : new SmtpReplyError(421, '4.7.0', 'Connection rate limit exceeded for your address, try again later', verdict);
}

interface Bucket {
  tokens: number;
  at: number;
}

export class ClientLimits {
  private readonly open = new Map<string, number>();
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly settings: ClientLimitSettings,
    private readonly maxTracked = DEFAULT_MAX_TRACKED,
  ) {}

  /**
   * Counts a connection attempt of `key` (refused ones too: a client hammering a full share
   * stays refused) and returns the verdict; an accepted connection holds its slot until
   * `release(key)`.
   */
  admit(key: string, rateExempt: boolean, now: number): ClientVerdict {
    const tokens = this.takeToken(key, now);
    const verdict = decideClientAdmission({ open: this.open.get(key) ?? 0, tokens, rateExempt, settings: this.settings });
    if (verdict === 'accept') this.open.set(key, (this.open.get(key) ?? 0) + 1);
    return verdict;
  }

  release(key: string): void {
    const count = this.open.get(key);
    if (count === undefined) return;
    if (count <= 1) this.open.delete(key);
    else this.open.set(key, count - 1);
  }

  /** Entries in the rate table (for tests of its bound). */
  get tracked(): number {
    return this.buckets.size;
  }

  /** Refills the bucket of `key`, takes one token if there is one, and returns the tokens there were. */
  private takeToken(key: string, now: number): number {
    const rate = this.settings.maxConnectionRatePerClient;
    if (rate <= 0) return Infinity;
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key); // re-inserted below: the map's order is least recently seen first
      bucket.tokens = Math.min(rate, bucket.tokens + ((now - bucket.at) * rate) / RATE_WINDOW_MS);
      bucket.at = now;
    } else {
      if (this.buckets.size >= this.maxTracked) this.evict(now);
      bucket = { tokens: rate, at: now };
    }
    this.buckets.set(key, bucket);
    const before = bucket.tokens;
    if (before >= 1) bucket.tokens -= 1;
    return before;
  }

  /** Drops buckets that have refilled (they hold nothing a new one would not), else the oldest tenth. */
  private evict(now: number): void {
    for (const [key, bucket] of this.buckets) if (now - bucket.at >= RATE_WINDOW_MS) this.buckets.delete(key);
    if (this.buckets.size < this.maxTracked * 0.9) return;
    let drop = Math.ceil(this.maxTracked / 10);
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
