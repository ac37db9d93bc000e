import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readIfExists, writeDurable } from '../../spool/durable-file.ts';
import { TtlCache } from '../ttl-cache.ts';
import { parseStsPolicy, type StsPolicy } from './parse-sts-policy.ts';

export interface CachedStsPolicy {
  readonly domain: string;
  readonly id: string;
  readonly policy: StsPolicy;
  /** The policy file as served, kept so a restart re-parses what was fetched. */
  readonly text: string;
  readonly fetchedAt: number;
  readonly expiresAt: number;
}

/** Domains whose policies are held in memory at once; the rest are read from disk when needed. */
const MAX_IN_MEMORY = 10_000;
const DOMAIN = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

/**
 * Fetched MTA-STS policies, one durable file per policy domain under `dir`, so a restart
 * keeps them (RFC 8461 section 5.1 wants them honoured until max_age even when the policy host
 * is unreachable). A file that does not parse is ignored and replaced on the next fetch.
 */
export class StsPolicyCache {
  private readonly memory = new TtlCache<CachedStsPolicy>(MAX_IN_MEMORY);
  private ready: Promise<unknown> | undefined;

  constructor(
    private readonly dir: string,
    private readonly now: () => number,
  ) {}

  private file(domain: string): string | undefined {
    // recipient domains come from mail; only plain host names become file names
    return DOMAIN.test(domain) && !domain.includes('..') ? join(this.dir, `${domain}.json`) : undefined;
  }

  async get(domain: string): Promise<CachedStsPolicy | undefined> {
    const now = this.now();
    const held = this.memory.get(domain, now);
    if (held) return held;
    const file = this.file(domain);
    if (!file) return undefined;
    const raw = await readIfExists(file);
    const entry = raw ? parseCacheFile(domain, raw) : undefined;
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      await unlink(file).catch(() => undefined);
      return undefined;
    }
    this.memory.set(domain, entry, entry.expiresAt, now);
    return entry;
  }

  async put(entry: CachedStsPolicy): Promise<void> {
    this.memory.set(entry.domain, entry, entry.expiresAt, this.now());
    const file = this.file(entry.domain);
    if (!file) return;
    this.ready ??= mkdir(this.dir, { recursive: true });
    await this.ready;
    const body = { version: 1, domain: entry.domain, id: entry.id, fetchedAt: entry.fetchedAt, policy: entry.text };
    await writeDurable(file, `${JSON.stringify(body)}\n`);
  }
}

/** The stored entry, or undefined when the file is not one this module wrote. */
export function parseCacheFile(domain: string, raw: Buffer): CachedStsPolicy | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.version !== 1 || v.domain !== domain || typeof v.id !== 'string' || typeof v.policy !== 'string') return undefined;
  if (typeof v.fetchedAt !== 'number' || !Number.isFinite(v.fetchedAt)) return undefined;
  try {
    const policy = parseStsPolicy(v.policy);
    return { domain, id: v.id, policy, text: v.policy, fetchedAt: v.fetchedAt, expiresAt: v.fetchedAt + policy.maxAge * 1000 };
  } catch {
    return undefined;
  }
}
