import { HttpError } from '../errors.ts';
import type { ReputationService } from '../reputation/reputation-service.ts';
import { parsePauseRequest, parseRelayFiguresPush, parseResumeRequest, RequestProblems } from './domain-requests.ts';

/**
 * The admin API's sending-domain routes, through which the operator makes a pause relay-wide
 * (docs/design.md "Relay-wide reputation"):
 *
 *   GET  /v1/domains                      every domain's pauses and last resume on this pod
 *   POST /v1/domains/{domain}/pause       {source: "relay-wide", reason, since?} | {source: "spec"}
 *   POST /v1/domains/{domain}/resume      {source?: "relay-wide", before?} | {source: "spec"}
 *   PUT  /v1/reputation/relay-wide        the 24 h sums over every pod, and the operator's lease
 *
 * Each is idempotent: the same request again changes nothing. Relay-wide pauses and resumes are
 * fsynced before the answer, like the pauses this pod decides itself.
 */
export interface DomainRouteResult {
  readonly status: number;
  readonly body: unknown;
}

export async function routeDomainAdmin(reputation: ReputationService, method: string, parts: readonly string[], body: () => Promise<unknown>): Promise<DomainRouteResult> {
  try {
    return await route(reputation, method, parts, body);
  } catch (err) {
    if (err instanceof RequestProblems) throw new HttpError(400, 'bad_request', err.message, 'admin', { problems: err.problems });
    throw err;
  }
}

async function route(reputation: ReputationService, method: string, parts: readonly string[], body: () => Promise<unknown>): Promise<DomainRouteResult> {
  if (parts[2] === 'reputation') {
    if (parts[3] !== 'relay-wide' || parts.length !== 4) throw notFound();
    allow(method, 'PUT');
    const push = parseRelayFiguresPush(await body());
    reputation.setRelayFigures(push.at, push.leaseMs, push.domains);
    return { status: 204, body: null };
  }
  if (parts.length === 3) {
    allow(method, 'GET');
    return { status: 200, body: { domains: reputation.domainNames().map((d) => view(reputation, d)) } };
  }
  const domain = decodeURIComponent(parts[3] ?? '').trim().toLowerCase();
  const action = parts[4];
  if (parts.length !== 5 || (action !== 'pause' && action !== 'resume')) throw notFound();
  allow(method, 'POST');
  if (!reputation.has(domain)) throw new HttpError(404, 'domain_not_found', `${domain} is not a sending domain of this relay`, 'admin');
  if (action === 'pause') {
    const req = parsePauseRequest(await body());
    if (req.source === 'spec') {
      reputation.setConfigPaused(domain, true);
      return { status: 200, body: view(reputation, domain) };
    }
    const outcome = await reputation.pauseRelayWide(domain, { reason: req.reason, since: req.since });
    if (outcome === 'resumed_since') {
      throw new HttpError(409, 'resumed_since', `${domain} was resumed on this pod after that pause began; the resume wins`, 'admin');
    }
    return { status: 200, body: { ...view(reputation, domain), changed: outcome === 'changed' } };
  }
  const req = parseResumeRequest(await body());
  if (req.source === 'spec') {
    reputation.setConfigPaused(domain, false);
    return { status: 200, body: view(reputation, domain) };
  }
  const resumed = await reputation.resume(domain, req.before === undefined ? 'admin' : 'operator (resume of another pod)', req.before);
  return { status: 200, body: { ...view(reputation, domain), changed: resumed } };
}

function view(reputation: ReputationService, domain: string) {
  const report = reputation.report(domain)!;
  return {
    domain,
    pauses: report.pauses.map((p) => ({ source: p.source, reason: p.reason, ...(p.source === 'config' ? {} : { since: new Date(p.since).toISOString() }) })),
    resumedAt: report.resumedAt === undefined ? null : new Date(report.resumedAt).toISOString(),
  };
}

function allow(method: string, allowed: string): void {
  if (method !== allowed) throw new HttpError(405, 'method_not_allowed', `use ${allowed} here`, 'admin');
}

function notFound(): HttpError {
  return new HttpError(404, 'not_found', 'no such route; see docs/design.md "Relay-wide reputation"', 'admin');
}
