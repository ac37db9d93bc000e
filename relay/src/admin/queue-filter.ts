import { parseDuration } from '../config/units.ts';
import { domainOf } from '../mail-address.ts';
import { queueStateOf, type QueueState } from '../spool/spool.ts';
import type { SpoolEntry } from '../spool/types.ts';

/** Which queued messages an admin request is about; every field given must match. */
export interface QueueFilter {
  /** The message's sending domain (or, without one, its envelope sender's domain). */
  readonly domain?: string;
  /** Some recipient still pending is at this domain. */
  readonly recipientDomain?: string;
  /** Queued at least this long (ms). */
  readonly minAge?: number;
  readonly state?: QueueState;
}

export interface QueueQuery {
  readonly filter: QueueFilter;
  readonly limit: number;
  /** The last queue id of the previous page. */
  readonly cursor?: string;
}

export const DEFAULT_PAGE = 100;
/** The most messages one request lists or acts on: never the whole queue in one answer. */
export const MAX_PAGE = 1000;

export const QUEUE_ID = /^[0-9A-Z]{16}$/;
const DOMAIN = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/;
const STATES: readonly QueueState[] = ['ready', 'deferred', 'held'];
const KEYS = new Set(['domain', 'recipientDomain', 'minAge', 'state', 'limit', 'cursor']);

export type Problem = { readonly field: string; readonly message: string };

/**
 * The query string of a list or filter action, checked whole: every problem is reported at
 * once (the API answers 400 with them). `extra` names further keys the route accepts.
 */
export function parseQueueQuery(params: URLSearchParams, extra: readonly string[] = []): { query: QueueQuery; problems: Problem[] } {
  const problems: Problem[] = [];
  const one = (key: string): string | undefined => {
    const all = params.getAll(key);
    if (all.length > 1) problems.push({ field: key, message: 'must be given once' });
    return all[0];
  };
  for (const key of new Set(params.keys())) {
    if (!KEYS.has(key) && !extra.includes(key)) problems.push({ field: key, message: 'unknown parameter' });
  }
  const filter: { -readonly [K in keyof QueueFilter]: QueueFilter[K] } = {};
  for (const key of ['domain', 'recipientDomain'] as const) {
    const value = one(key)?.toLowerCase();
    if (value === undefined) continue;
    if (DOMAIN.test(value)) filter[key] = value;
    else problems.push({ field: key, message: 'must be a domain name' });
  }
  const minAge = one('minAge');
  if (minAge !== undefined) {
    const ms = parseDuration(minAge);
    if (ms === undefined) problems.push({ field: 'minAge', message: 'must be a duration such as 30m, 1h or 2d' });
    else filter.minAge = ms;
  }
  const state = one('state');
  if (state !== undefined) {
    if ((STATES as readonly string[]).includes(state)) filter.state = state as QueueState;
    else problems.push({ field: 'state', message: `must be one of ${STATES.join(', ')}` });
  }
  let limit = DEFAULT_PAGE;
  const limitText = one('limit');
  if (limitText !== undefined) {
    limit = /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= MAX_PAGE)) problems.push({ field: 'limit', message: `must be a whole number from 1 to ${MAX_PAGE}` });
  }
  const cursor = one('cursor');
  if (cursor !== undefined && !QUEUE_ID.test(cursor)) problems.push({ field: 'cursor', message: 'must be a queue id from nextCursor' });
  return { query: { filter, limit, ...(cursor !== undefined ? { cursor } : {}) }, problems };
}

export function isEmptyFilter(filter: QueueFilter): boolean {
  return Object.keys(filter).length === 0;
}

export function matchesFilter(entry: SpoolEntry, filter: QueueFilter, now: number): boolean {
  const m = entry.meta;
  if (filter.domain !== undefined && (m.sendingDomain ?? domainOf(m.from)) !== filter.domain) return false;
  if (filter.recipientDomain !== undefined && !m.recipients.some((r) => r.status === 'pending' && domainOf(r.address) === filter.recipientDomain)) return false;
  if (filter.minAge !== undefined && now - m.createdAt < filter.minAge) return false;
  if (filter.state !== undefined && queueStateOf(entry, now) !== filter.state) return false;
  return true;
}
