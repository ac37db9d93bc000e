import type { Logger } from '../../log.ts';
import { describeError } from '../../errors.ts';
import { TtlCache } from '../ttl-cache.ts';
import { decideStsDiscovery, type StsTxtAnswer } from './decide-sts-discovery.ts';
import { fetchStsPolicy, StsFetchError, type StsFetchOptions } from './fetch-sts-policy.ts';
import { parseStsPolicy, StsPolicyError } from './parse-sts-policy.ts';
import { parseStsRecord } from './parse-sts-record.ts';
import type { CachedStsPolicy, StsPolicyCache } from './policy-cache.ts';

/** Why no fresh policy could be had, in RFC 8460's terms. */
export type StsPolicyFailure = 'sts-policy-fetch-error' | 'sts-policy-invalid' | 'sts-webpki-invalid';

export interface StsLookup {
  /** The policy to apply; undefined: the domain has none we can use. */
  readonly policy?: CachedStsPolicy;
  /** A policy was published but could not be fetched (reported; the cached one applies if any). */
  readonly failure?: StsPolicyFailure;
}

export interface StsPoliciesDeps {
  /** TXT records of a name through the relay's resolvers; 'none' for NXDOMAIN or no TXT. */
  readonly txt: (name: string) => Promise<string[][] | 'none'>;
  readonly fetch: StsFetchOptions;
  readonly cache: StsPolicyCache;
  readonly logger: Logger;
  readonly now: () => number;
  /** Told each failed fetch of a published policy (once per discovery, not per message). */
  readonly onFailure?: (failure: StsPolicyFailure, domain: string) => void;
}

/** How long one answer (TXT record, fetch failure) is reused before DNS is asked again. */
const ANSWER_TTL_MS = 60_000;
const MAX_ANSWERS = 10_000;

/**
 * MTA-STS policy discovery (RFC 8461 sections 3 and 5.1) for the recipient domains of MX
 * delivery: the `_mta-sts` TXT record through the relay's resolvers, the policy over HTTPS,
 * and the durable cache between them. Answers are reused for a minute, so a busy domain costs
 * one TXT query a minute, and concurrent lookups of one domain share one query and one fetch.
 */
export class StsPolicies {
  private readonly answers = new TtlCache<StsLookup>(MAX_ANSWERS);
  private readonly inFlight = new Map<string, Promise<StsLookup>>();

  constructor(private readonly deps: StsPoliciesDeps) {}

  lookup(domain: string): Promise<StsLookup> {
    const held = this.answers.get(domain, this.deps.now());
    if (held) return Promise.resolve(held);
    let pending = this.inFlight.get(domain);
    if (!pending) {
      pending = this.discover(domain)
        .then((answer) => {
          const now = this.deps.now();
          const until = Math.min(now + ANSWER_TTL_MS, answer.policy?.expiresAt ?? Infinity);
          this.answers.set(domain, answer, until, now);
          return answer;
        })
        .finally(() => this.inFlight.delete(domain));
      this.inFlight.set(domain, pending);
    }
    return pending;
  }

  private async discover(domain: string): Promise<StsLookup> {
    const { cache, logger, now } = this.deps;
    const [cached, txt] = await Promise.all([
      cache.get(domain).catch((err: unknown) => {
        logger.warn('MTA-STS cache unreadable', { domain, error: describeError(err) });
        return undefined;
      }),
      this.txtAnswer(domain),
    ]);
    const decision = decideStsDiscovery(cached, txt, now());
    if (decision.action === 'none') return {};
    if (decision.action === 'use-cached') return { policy: cached! };
    try {
      const text = await fetchStsPolicy(domain, this.deps.fetch);
      const policy = parseStsPolicy(text);
      const fetchedAt = now();
      const entry: CachedStsPolicy = { domain, id: decision.id, policy, text, fetchedAt, expiresAt: fetchedAt + policy.maxAge * 1000 };
      await cache.put(entry).catch((err: unknown) => logger.warn('MTA-STS policy not stored', { domain, error: describeError(err) }));
      logger.info('MTA-STS policy fetched', { domain, id: decision.id, mode: policy.mode, maxAge: policy.maxAge });
      return { policy: entry };
    } catch (err) {
      const failure: StsPolicyFailure =
        err instanceof StsPolicyError ? 'sts-policy-invalid' : err instanceof StsFetchError && err.kind === 'webpki' ? 'sts-webpki-invalid' : 'sts-policy-fetch-error';
      this.deps.onFailure?.(failure, domain);
      logger.warn('MTA-STS policy fetch failed', { domain, failure, error: describeError(err), cachedPolicy: decision.fallback });
      return decision.fallback ? { policy: cached!, failure } : { failure };
    }
  }

  private async txtAnswer(domain: string): Promise<StsTxtAnswer> {
    try {
      const records = await this.deps.txt(`_mta-sts.${domain}`);
      return records === 'none' ? { kind: 'none' } : parseStsRecord(records);
    } catch {
      return { kind: 'dns-error' };
    }
  }
}
