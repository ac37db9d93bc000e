/**
 * One UTC day of MTA-STS results for one policy domain: what a TLS-RPT report (RFC 8460) is
 * made of. Kept as plain data so it can be stored as JSON and rebuilt by `parseDailyResults`.
 */
export interface DomainResults {
  /** The policy the sessions were judged by; undefined when none could be had (fetch failures only). */
  policy?: { readonly id: string; readonly text: string; readonly mx: readonly string[] };
  success: number;
  /** Per result type and MX host. */
  failures: Array<{ readonly type: string; readonly mx: string; count: number }>;
  /** Sending attempts so far, and whether one succeeded (or the domain takes no reports). */
  attempts: number;
  sent: boolean;
}

export type DayResults = Map<string, DomainResults>;

/** `2026-12-04`: the UTC day of an instant. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const TYPE = /^[a-z-]{1,40}$/;
const DOMAIN = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;

export function isDay(text: string): boolean {
  return DAY.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`));
}

/** The stored day, or undefined when the file is not one this module wrote. */
export function parseDailyResults(raw: string): { day: string; domains: DayResults } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const v = value as { version?: unknown; day?: unknown; domains?: unknown };
  if (typeof v !== 'object' || v === null || v.version !== 1 || typeof v.day !== 'string' || !isDay(v.day)) return undefined;
  if (typeof v.domains !== 'object' || v.domains === null) return undefined;
  const domains: DayResults = new Map();
  const count = (n: unknown) => (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined);
  for (const [domain, entry] of Object.entries(v.domains as Record<string, unknown>)) {
    const e = entry as Record<string, unknown>;
    if (!DOMAIN.test(domain) || typeof e !== 'object' || e === null) return undefined;
    const success = count(e.success);
    const attempts = count(e.attempts);
    if (success === undefined || attempts === undefined || typeof e.sent !== 'boolean' || !Array.isArray(e.failures)) return undefined;
    const failures: DomainResults['failures'] = [];
    for (const f of e.failures as Array<Record<string, unknown>>) {
      const n = count(f?.count);
      if (n === undefined || typeof f.type !== 'string' || !TYPE.test(f.type) || typeof f.mx !== 'string') return undefined;
      failures.push({ type: f.type, mx: f.mx, count: n });
    }
    let policy: DomainResults['policy'];
    if (e.policy !== undefined) {
      const p = e.policy as Record<string, unknown>;
      if (typeof p?.id !== 'string' || typeof p.text !== 'string' || !Array.isArray(p.mx) || !p.mx.every((m) => typeof m === 'string')) return undefined;
      policy = { id: p.id, text: p.text, mx: p.mx as string[] };
    }
    domains.set(domain, { ...(policy ? { policy } : {}), success, failures, attempts, sent: e.sent });
  }
  return { day: v.day, domains };
}

export function serializeDailyResults(day: string, domains: DayResults): string {
  return `${JSON.stringify({ version: 1, day, domains: Object.fromEntries(domains) })}\n`;
}
