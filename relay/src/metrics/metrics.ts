import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueStats } from '../spool/types.ts';
import type { CounterKind, Counts } from '../reputation/rolling-counters.ts';

/**
 * Every metric the relay exports, named as in DESIGN.md. Labels are bounded: `listener`,
 * `domain` and `category` come from the config (an undeclared category is `other`), `reason`,
 * `state` and `outcome` from fixed sets in the code.
 */
const EMPTY_QUEUE: QueueStats = { ready: 0, deferred: 0, held: 0, oldestCreatedAt: undefined };

/** One webhook's backlog, for the webhook gauges. */
export interface WebhookSample {
  readonly scope: string;
  readonly webhook: string;
  readonly backlog: number;
  /** When the oldest undelivered event happened (ms since the epoch); undefined: none waiting. */
  readonly oldest: number | undefined;
}

/** One sending domain's 24 h rates and pause flag, as the reputation gauges export them. */
export interface DomainReputationSample {
  readonly domain: string;
  readonly bounceRate: number;
  readonly complaintRate: number;
  readonly deferralRate: number;
  readonly paused: boolean;
  /** This pod's 24 h counts. */
  readonly window: Counts;
  /** This pod's counts since the last resume (at most 24 h): what a breach is judged on. */
  readonly breach: Counts;
  /** Start of the relay-wide pause in force (ms), if any. */
  readonly relayWideSince: number | undefined;
  /** Last resume (ms), 0 for never. */
  readonly resumedAt: number;
}

/** One category of a sending domain: 24 h rates, pause flag and window counts. */
export interface CategoryReputationSample {
  readonly domain: string;
  readonly category: string;
  readonly bounceRate: number;
  readonly complaintRate: number;
  readonly paused: boolean;
  readonly window: Readonly<Counts>;
}

/** The `outcome` label of the category metrics for each reputation counter. */
export const OUTCOME_OF_COUNTER: Readonly<Record<CounterKind, string>> = {
  sent: 'sent',
  delivered: 'delivered',
  deferrals: 'deferred',
  hardBounces: 'bounced',
  complaints: 'complained',
};
const WINDOW_OUTCOMES = Object.entries(OUTCOME_OF_COUNTER) as Array<[CounterKind, string]>;

/**
 * Calls `source` at most once per scrape: a scrape calls every collect() synchronously
 * (prom-client maps all metrics at once), and the value is forgotten right after.
 */
function oncePerScrape<T>(source: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    if (!value) {
      value = { v: source() };
      queueMicrotask(() => (value = undefined));
    }
    return value.v;
  };
}
/** The `outcome` label of the window gauges for each counter. */
const OUTCOMES: ReadonlyArray<readonly [string, keyof Counts]> = [
  ['sent', 'sent'],
  ['delivered', 'delivered'],
  ['deferred', 'deferrals'],
  ['bounced', 'hardBounces'],
  ['complained', 'complaints'],
];

export function createMetrics(now: () => number = Date.now) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  let queueStats: () => QueueStats = () => EMPTY_QUEUE;
  let reputation: () => readonly DomainReputationSample[] = () => [];
  let scrapeSamples: readonly DomainReputationSample[] | undefined;
  let webhooks: () => readonly WebhookSample[] = () => [];
  // A scrape calls every collect() synchronously (prom-client maps all metrics at once): sum
  // each domain's counters once for the four gauges, and forget them right after.
  const samples = () => {
    if (!scrapeSamples) {
      scrapeSamples = reputation();
      queueMicrotask(() => (scrapeSamples = undefined));
    }
    return scrapeSamples;
  };
  let categories: () => readonly CategoryReputationSample[] = () => [];
  const categorySamples = oncePerScrape(() => categories());
  const categoryGauge = (name: string, help: string, value: (s: CategoryReputationSample) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['domain', 'category'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const sample of categorySamples()) this.set({ domain: sample.domain, category: sample.category }, value(sample));
      },
    });
  const reputationGauge = (name: string, help: string, value: (s: DomainReputationSample) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['domain'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const sample of samples()) this.set({ domain: sample.domain }, value(sample));
      },
    });
  const countsGauge = (name: string, help: string, counts: (s: DomainReputationSample) => Counts) =>
    new Gauge({
      name,
      help,
      labelNames: ['domain', 'outcome'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const sample of samples()) {
          const c = counts(sample);
          for (const [outcome, kind] of OUTCOMES) this.set({ domain: sample.domain, outcome }, c[kind]);
        }
      },
    });
  let cached: { at: number; stats: QueueStats } | undefined;
  // the two queue metrics are collected together; walk the queue once per scrape
  const stats = () => {
    const t = now();
    if (!cached || t - cached.at > 500) cached = { at: t, stats: queueStats() };
    return cached.stats;
  };

  const configLastReloadSuccess = new Gauge({
    name: 'mailrelay_config_last_reload_success',
    help: '1 when the config as mounted now is valid (start-up or last reload), 0 when the last reload was refused.',
    registers: [registry],
  });
  // A relay that runs started with a valid config.
  configLastReloadSuccess.set(1);

  return {
    registry,
    /** Where the queue gauges read from: the spool, once it is open. */
    observeQueue(source: () => QueueStats) {
      queueStats = source;
      cached = undefined;
    },
    /** Where the reputation gauges read from: the reputation service, once it is open. */
    observeReputation(source: () => readonly DomainReputationSample[]) {
      reputation = source;
    },
    /** Where the category gauges read from: the reputation service, once it is open. */
    observeCategories(source: () => readonly CategoryReputationSample[]) {
      categories = source;
    },
    categoryMessages: new Counter({
      name: 'mailrelay_category_messages_total',
      help: 'Recipient outcomes by sending domain, category (declared, else other) and outcome: sent (delivered or hard-bounced at delivery), delivered, deferred (attempts), bounced (hard, at delivery or by a later DSN), complained.',
      labelNames: ['domain', 'category', 'outcome'] as const,
      registers: [registry],
    }),
    categoryBounceRate: categoryGauge(
      'mailrelay_category_bounce_rate',
      'Hard bounces / recipients sent, over 24 h, by sending domain and category.',
      (s) => s.bounceRate,
    ),
    categoryComplaintRate: categoryGauge(
      'mailrelay_category_complaint_rate',
      'Complaints / recipients delivered, over 24 h, by sending domain and category.',
      (s) => s.complaintRate,
    ),
    categoryPaused: categoryGauge(
      'mailrelay_category_paused',
      "1 while new and queued mail of the category is held by a breach of the category's thresholds.",
      (s) => (s.paused ? 1 : 0),
    ),
    categoryWindowMessages: new Gauge({
      name: 'mailrelay_category_window_messages',
      help: "This relay's counts over the last 24 h by sending domain, category and outcome (as mailrelay_category_messages_total), to be summed over relays.",
      labelNames: ['domain', 'category', 'outcome'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of categorySamples()) {
          for (const [kind, outcome] of WINDOW_OUTCOMES) this.set({ domain: s.domain, category: s.category, outcome }, s.window[kind]);
        }
      },
    }),
    /** Where the webhook gauges read from: the event stream, once it is open. */
    observeWebhooks(source: () => readonly WebhookSample[]) {
      webhooks = source;
    },
    eventsEmitted: new Counter({
      name: 'mailrelay_events_total',
      help: 'Events written to the event journal (on disk), by type; only while a webhook is configured.',
      labelNames: ['type'] as const,
      registers: [registry],
    }),
    webhookEvents: new Counter({
      name: 'mailrelay_webhook_events_total',
      help: 'Events per webhook by result: delivered (2xx), retried (a failed attempt), rejected (another 4xx or 3xx: dropped), overflow (dropped over events.maxBacklog), expired (given up after retryFor).',
      labelNames: ['scope', 'webhook', 'result'] as const,
      registers: [registry],
    }),
    webhookBacklog: new Gauge({
      name: 'mailrelay_webhook_backlog_events',
      help: 'Events waiting for a webhook (on disk or in its request).',
      labelNames: ['scope', 'webhook'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const w of webhooks()) this.set({ scope: w.scope, webhook: w.webhook }, w.backlog);
      },
    }),
    webhookOldestAge: new Gauge({
      name: 'mailrelay_webhook_oldest_event_age_seconds',
      help: 'Age of the oldest event a webhook is trying to deliver (0 when none waits).',
      labelNames: ['scope', 'webhook'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const t = now();
        for (const w of webhooks()) this.set({ scope: w.scope, webhook: w.webhook }, w.oldest === undefined ? 0 : Math.max(0, (t - w.oldest) / 1000));
      },
    }),
    webhookRequestDuration: new Histogram({
      name: 'mailrelay_webhook_request_duration_seconds',
      help: 'Duration of webhook requests, whatever their result.',
      labelNames: ['scope', 'webhook'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    complaints: new Counter({
      name: 'mailrelay_complaints_total',
      help: 'Complaints (ARF feedback reports) attributed to a sending domain.',
      labelNames: ['domain'] as const,
      registers: [registry],
    }),
    feedbackReports: new Counter({
      name: 'mailrelay_feedback_reports_total',
      help: 'Mail received at the VERP domain or complaint address, by kind (dsn, arf) and result (counted, forged, unattributed, duplicate, not_a_failure, not_a_complaint, not_a_report, unreadable, rate_limited).',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    domainBounceRate: reputationGauge(
      'mailrelay_domain_bounce_rate',
      'Hard bounces (5xx at delivery, or a DSN later) / recipients sent (delivered or hard-bounced at delivery), over 24 h, by sending domain.',
      (s) => s.bounceRate,
    ),
    domainComplaintRate: reputationGauge(
      'mailrelay_domain_complaint_rate',
      'Complaints / recipients delivered, over 24 h, by sending domain.',
      (s) => s.complaintRate,
    ),
    domainDeferralRate: reputationGauge(
      'mailrelay_domain_deferral_rate',
      'Deferred attempts / (deferred attempts + recipients sent), over 24 h, by sending domain.',
      (s) => s.deferralRate,
    ),
    domainPaused: reputationGauge(
      'mailrelay_domain_paused',
      '1 while new and queued mail of the sending domain is held (a reputation breach or domains[].paused).',
      (s) => (s.paused ? 1 : 0),
    ),
    domainWindowMessages: countsGauge(
      'mailrelay_domain_window_messages',
      "This pod's 24 h window counts by sending domain and outcome (sent, delivered, deferred, bounced, complained): gauges, so the operator sums them over the relay's pods.",
      (s) => s.window,
    ),
    domainBreachWindowMessages: countsGauge(
      'mailrelay_domain_breach_window_messages',
      "This pod's counts since the domain's last resume, at most 24 h, by outcome: what a breach is judged on (summed over the pods by the operator).",
      (s) => s.breach,
    ),
    domainRelayWidePauseStart: reputationGauge(
      'mailrelay_domain_relay_wide_pause_start_timestamp_seconds',
      'Start of the relay-wide pause (decided by the operator on the sums of every pod) this pod holds for the sending domain, 0 when none.',
      (s) => (s.relayWideSince ?? 0) / 1000,
    ),
    domainLastResume: reputationGauge(
      'mailrelay_domain_last_resume_timestamp_seconds',
      'When the sending domain was last resumed on this pod (API, operator or resumeBefore), 0 for never.',
      (s) => s.resumedAt / 1000,
    ),
    messagesReceived: new Counter({
      name: 'mailrelay_messages_received_total',
      help: 'Messages accepted (250 after the spool fsync), by listener.',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
    bytesReceived: new Counter({
      name: 'mailrelay_received_bytes_total',
      help: 'Bytes of accepted messages, by listener.',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
    messagesRejected: new Counter({
      name: 'mailrelay_messages_rejected_total',
      help: 'Refused transactions and recipients, by listener and reason.',
      labelNames: ['listener', 'reason'] as const,
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'mailrelay_auth_failures_total',
      help: 'Failed SMTP AUTH attempts, by listener.',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
    connections: new Gauge({
      name: 'mailrelay_smtp_connections',
      help: 'Open SMTP connections, by listener.',
      labelNames: ['listener'] as const,
      registers: [registry],
    }),
    tlsSessions: new Counter({
      name: 'mailrelay_tls_sessions_total',
      help: 'TLS sessions established, by direction (inbound, outbound) and protocol version.',
      labelNames: ['direction', 'version'] as const,
      registers: [registry],
    }),
    outboundTls: new Counter({
      name: 'mailrelay_outbound_tls_deliveries_total',
      help: 'Recipients delivered, by provider and the TLS of the transaction (verified: certificate valid for the host; encrypted: TLS without a verified certificate; none).',
      labelNames: ['provider', 'tls'] as const,
      registers: [registry],
    }),
    mtaStsResults: new Counter({
      name: 'mailrelay_mta_sts_results_total',
      help: 'Delivery transactions to domains with an MTA-STS policy, by provider, policy mode (enforce, testing) and result (success or an RFC 8460 failure type).',
      labelNames: ['provider', 'mode', 'result'] as const,
      registers: [registry],
    }),
    mtaStsPolicyFailures: new Counter({
      name: 'mailrelay_mta_sts_policy_failures_total',
      help: 'MTA-STS policies published but not fetched, by reason (sts_policy_fetch_error, sts_policy_invalid, sts_webpki_invalid).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    tlsReports: new Counter({
      name: 'mailrelay_tls_reports_total',
      help: 'Daily TLS-RPT reports (RFC 8460) per policy domain, by result (sent, failed, no_destination: the domain publishes no _smtp._tls record).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    spoolCorrupt: new Counter({
      name: 'mailrelay_spool_corrupt_total',
      help: 'Unreadable spool data moved to corrupt/, by kind (record, torn_tail, missing_body).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    delivered: new Counter({
      name: 'mailrelay_messages_delivered_total',
      help: 'Recipients delivered (2xx after DATA), by sending domain and recipient mailbox provider.',
      labelNames: ['domain', 'provider'] as const,
      registers: [registry],
    }),
    deferred: new Counter({
      name: 'mailrelay_messages_deferred_total',
      help: 'Recipient attempts deferred (4xx, timeouts, connection and DNS errors), by sending domain and provider.',
      labelNames: ['domain', 'provider'] as const,
      registers: [registry],
    }),
    bounced: new Counter({
      name: 'mailrelay_messages_bounced_total',
      help: 'Recipients bounced, by sending domain, provider and type (hard: 5xx or no such domain; expired: queue.maxAge; admin: mail-relay queue bounce).',
      labelNames: ['domain', 'provider', 'type'] as const,
      registers: [registry],
    }),
    queueAdminActions: new Counter({
      name: 'mailrelay_queue_admin_actions_total',
      help: 'Messages acted on through the admin API (mail-relay queue), by action: retry, hold, release, delete, bounce.',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    queueHandoffs: new Counter({
      name: 'mailrelay_queue_handoffs_total',
      help: 'Messages handed from a draining pod to a peer, by direction: out (sent and deleted here), in (imported here).',
      labelNames: ['direction'] as const,
      registers: [registry],
    }),
    dsnSent: new Counter({
      name: 'mailrelay_dsn_generated_total',
      help: 'Delivery status notifications queued for senders.',
      registers: [registry],
    }),
    deliveryDuration: new Histogram({
      name: 'mailrelay_delivery_duration_seconds',
      help: 'Time from acceptance to delivery of a recipient, by sending domain.',
      labelNames: ['domain'] as const,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 14400, 86400],
      registers: [registry],
    }),
    outboundConnections: new Gauge({
      name: 'mailrelay_outbound_connections',
      help: 'Open outbound SMTP connections.',
      registers: [registry],
    }),
    queueMessages: new Gauge({
      name: 'mailrelay_queue_messages',
      help: 'Messages in the spool, by state (ready, deferred, held).',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const s = stats();
        this.set({ state: 'ready' }, s.ready);
        this.set({ state: 'deferred' }, s.deferred);
        this.set({ state: 'held' }, s.held);
      },
    }),
    configReloadFailures: new Counter({
      name: 'mailrelay_config_reload_failures_total',
      help: 'Changes to relay.yaml or the files it names that were refused as invalid; the relay kept its last good config.',
      registers: [registry],
    }),
    configLastReloadSuccess,
    oldestMessageAge: new Gauge({
      name: 'mailrelay_queue_oldest_message_age_seconds',
      help: 'Age of the oldest message in the spool (0 when empty).',
      registers: [registry],
      collect() {
        const oldest = stats().oldestCreatedAt;
        this.set(oldest === undefined ? 0 : Math.max(0, (now() - oldest) / 1000));
      },
    }),
  };
}

export type RelayMetrics = ReturnType<typeof createMetrics>;
