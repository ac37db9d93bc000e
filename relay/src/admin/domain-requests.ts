import type { Counts } from '../reputation/rolling-counters.ts';
import type { Problem } from './queue-filter.ts';

/**
 * The bodies of the admin API's domain routes (the operator's relay-wide pushes), parsed from
 * `unknown` once, with every problem listed. Pure and linear in the input.
 */

export type PauseRequest = { readonly source: 'relay-wide'; readonly reason: string; readonly since: number | undefined } | { readonly source: 'spec' };
export type ResumeRequest = { readonly source: 'relay-wide'; readonly before: number | undefined } | { readonly source: 'spec' };

export interface RelayFiguresPush {
  readonly at: number;
  readonly leaseMs: number;
  readonly domains: ReadonlyMap<string, Counts>;
}

const MAX_REASON = 500;
const MAX_DOMAINS = 10_000;
const COUNT_FIELDS = ['sent', 'delivered', 'hardBounces', 'deferrals', 'complaints'] as const;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

export class RequestProblems extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.map((p) => `${p.field}: ${p.message}`).join('; '));
    this.name = 'RequestProblems';
  }
}

function objectOf(value: unknown, problems: Problem[], field = 'body'): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  problems.push({ field, message: 'must be a JSON object' });
  return {};
}

function unknownFields(obj: Record<string, unknown>, allowed: readonly string[], problems: Problem[], prefix = ''): void {
  for (const key of Object.keys(obj)) if (!allowed.includes(key)) problems.push({ field: `${prefix}${key}`, message: 'unknown field' });
}

function time(value: unknown, field: string, problems: Problem[]): number | undefined {
  if (typeof value === 'string' && RFC3339.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
  }
  problems.push({ field, message: 'must be an RFC 3339 time such as 2026-11-28T18:00:00.000Z' });
  return undefined;
}

function source(value: unknown, problems: Problem[]): 'relay-wide' | 'spec' {
  if (value === undefined || value === 'relay-wide') return 'relay-wide';
  if (value === 'spec') return 'spec';
  problems.push({ field: 'source', message: 'must be relay-wide or spec' });
  return 'relay-wide';
}

function done<T>(value: T, problems: Problem[]): T {
  if (problems.length > 0) throw new RequestProblems(problems);
  return value;
}

/** `{source: "relay-wide", reason, since?}` or `{source: "spec"}`. */
export function parsePauseRequest(body: unknown): PauseRequest {
  const problems: Problem[] = [];
  const obj = objectOf(body, problems);
  const src = source(obj.source, problems);
  if (src === 'spec') {
    unknownFields(obj, ['source'], problems);
    return done({ source: 'spec' }, problems);
  }
  unknownFields(obj, ['source', 'reason', 'since'], problems);
  const reason = obj.reason;
  if (typeof reason !== 'string' || reason.trim() === '' || reason.length > MAX_REASON) problems.push({ field: 'reason', message: `must be text of 1 to ${MAX_REASON} characters` });
  const since = obj.since === undefined ? undefined : time(obj.since, 'since', problems);
  return done({ source: 'relay-wide', reason: typeof reason === 'string' ? reason.trim() : '', since }, problems);
}

/**
 * `{source?: "relay-wide", before?}` or `{source: "spec"}`; an empty body is a relay-wide
 * resume now. `before`: another pod's resume, carried here by the operator.
 */
export function parseResumeRequest(body: unknown): ResumeRequest {
  const problems: Problem[] = [];
  const obj = body === undefined ? {} : objectOf(body, problems);
  const src = source(obj.source, problems);
  if (src === 'spec') {
    unknownFields(obj, ['source'], problems);
    return done({ source: 'spec' }, problems);
  }
  unknownFields(obj, ['source', 'before'], problems);
  const before = obj.before === undefined ? undefined : time(obj.before, 'before', problems);
  return done({ source: 'relay-wide', before }, problems);
}

/** `{at, leaseSeconds, domains: {<domain>: {sent, delivered, hardBounces, deferrals, complaints}}}`. */
export function parseRelayFiguresPush(body: unknown): RelayFiguresPush {
  const problems: Problem[] = [];
  const obj = objectOf(body, problems);
  unknownFields(obj, ['at', 'leaseSeconds', 'domains'], problems);
  const at = time(obj.at, 'at', problems) ?? 0;
  const lease = obj.leaseSeconds;
  if (typeof lease !== 'number' || !Number.isFinite(lease) || lease < 0 || lease > 600) problems.push({ field: 'leaseSeconds', message: 'must be a number of seconds from 0 to 600' });
  const domains = new Map<string, Counts>();
  const raw = objectOf(obj.domains, problems, 'domains');
  const names = Object.keys(raw);
  if (names.length > MAX_DOMAINS) problems.push({ field: 'domains', message: `at most ${MAX_DOMAINS} domains` });
  for (const name of names.slice(0, MAX_DOMAINS)) {
    const field = `domains.${name}`;
    const c = objectOf(raw[name], problems, field);
    unknownFields(c, COUNT_FIELDS, problems, `${field}.`);
    const counts = { sent: 0, delivered: 0, hardBounces: 0, deferrals: 0, complaints: 0 };
    for (const k of COUNT_FIELDS) {
      const v = c[k];
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) counts[k] = v;
      else problems.push({ field: `${field}.${k}`, message: 'must be a whole number, 0 or more' });
    }
    domains.set(name.toLowerCase(), counts);
  }
  return done({ at, leaseMs: typeof lease === 'number' ? lease * 1000 : 0, domains }, problems);
}
