import type { ReputationService } from './reputation-service.ts';

/**
 * The reputation routes of the HTTP API as framework-free handlers: path parameters and the
 * query in, status and JSON body out. The HTTP server (relay/src/api/) authenticates the caller
 * and maps routes to these:
 *
 *   GET    /v1/domains/{domain}/reputation        getReputation
 *   POST   /v1/domains/{domain}/resume            resumeDomain
 *   POST   /v1/domains/{domain}/categories/{category}/resume  resumeCategory
 *   GET    /v1/suppressions?domain=..&limit=..    listSuppressions
 *   DELETE /v1/suppressions/{domain}/{recipient}  deleteSuppression
 */
export interface HttpResult {
  readonly status: number;
  /** null for 204. */
  readonly body: Record<string, unknown> | null;
}

type Query = Readonly<Record<string, string | undefined>>;

const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 10_000;

/** The error body every API route answers with (OpenAPI `Error`). */
function problem(status: number, code: string, message: string): HttpResult {
  return { status, body: { error: code, message } };
}

function unknownDomain(domain: string): HttpResult {
  return problem(404, 'domain_not_found', `${domain} is not a sending domain of this relay`);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function createReputationHandlers(reputation: ReputationService) {
  const normalise = (domain: string | undefined) => (domain ?? '').trim().toLowerCase();

  return {
    async getReputation(params: { domain?: string }): Promise<HttpResult> {
      const domain = normalise(params.domain);
      const report = reputation.report(domain);
      if (!report) return unknownDomain(domain);
      const { paused } = report;
      return {
        status: 200,
        body: {
          domain,
          paused: paused ? { source: paused.source, reason: paused.reason, ...(paused.source !== 'config' ? { since: iso(paused.since) } : {}) } : null,
          thresholds: report.thresholds,
          // this pod's own windows: the Service sends each request to one pod
          windows: report.windows,
          categories: Object.fromEntries(
            Object.entries(report.categories).map(([name, c]) => [
              name,
              { thresholds: c.thresholds, windows: c.windows, paused: c.paused ? { reason: c.paused.reason, since: iso(c.paused.since) } : null },
            ]),
          ),
          // the sums over every pod, as the operator last pushed them (null without an operator)
          relay: report.relay ? { at: iso(report.relay.at), '24h': report.relay['24h'] } : null,
        },
      };
    },

    /** Lifts a category's reputation pause; its other categories and the domain are left as they are. */
    async resumeCategory(params: { domain?: string; category?: string }): Promise<HttpResult> {
      const domain = normalise(params.domain);
      if (!reputation.has(domain)) return unknownDomain(domain);
      const category = params.category ?? '';
      if (!reputation.hasCategory(domain, category)) {
        return problem(404, 'category_not_found', `${category} is not a category of ${domain} (declared in domains[].categories, or other)`);
      }
      const resumed = await reputation.resumeCategory(domain, category, 'api');
      return { status: 200, body: { domain, category, resumed, paused: false } };
    },

    /** Lifts a reputation pause. A pause set by relay.yaml (domains[].paused) is lifted there, not here. */
    async resumeDomain(params: { domain?: string }): Promise<HttpResult> {
      const domain = normalise(params.domain);
      if (!reputation.has(domain)) return unknownDomain(domain);
      const resumed = await reputation.resume(domain, 'api');
      const still = reputation.report(domain)!.paused;
      if (still?.source === 'config') {
        return problem(409, 'paused_by_config', `${domain} is paused by relay.yaml (domains[].paused); change the configuration to resume it`);
      }
      return { status: 200, body: { domain, resumed, paused: false } };
    },

    async listSuppressions(_params: Record<string, never>, query: Query): Promise<HttpResult> {
      const domain = normalise(query.domain);
      if (!domain) return problem(400, 'invalid_request', 'query parameter domain is required');
      if (!reputation.has(domain)) return unknownDomain(domain);
      const limitText = query.limit ?? String(DEFAULT_LIMIT);
      const limit = /^\d{1,6}$/.test(limitText) ? Number(limitText) : NaN;
      if (!(limit >= 1 && limit <= MAX_LIMIT)) return problem(400, 'invalid_request', `limit must be an integer between 1 and ${MAX_LIMIT}`);
      const all = reputation.listSuppressions(domain);
      return {
        status: 200,
        body: {
          domain,
          total: all.length,
          suppressions: all.slice(0, limit).map((s) => ({
            recipient: s.recipient,
            ...(s.category ? { category: s.category } : {}),
            reason: s.reason,
            detail: s.detail,
            since: iso(s.since),
            expiresAt: iso(s.expiresAt),
          })),
        },
      };
    },

    async deleteSuppression(params: { domain?: string; recipient?: string }, query: Query = {}): Promise<HttpResult> {
      const domain = normalise(params.domain);
      if (!reputation.has(domain)) return unknownDomain(domain);
      const recipient = normalise(params.recipient);
      if (!recipient.includes('@')) return problem(400, 'invalid_request', 'recipient must be an address');
      // an unsubscribe from one category is lifted with ?category=
      const category = query.category === undefined ? undefined : normalise(query.category);
      const removed = await reputation.removeSuppression(domain, recipient, category || undefined);
      if (!removed) return problem(404, 'suppression_not_found', `${recipient} is not suppressed for ${domain}${category ? ` (${category})` : ''}`);
      return { status: 204, body: null };
    },
  };
}

export type ReputationHandlers = ReturnType<typeof createReputationHandlers>;
