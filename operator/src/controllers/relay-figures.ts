/**
 * A SendingDomain's reputation as its relay pods report it on /metrics (the relay's own names,
 * docs/metrics.md). Each pod exports its 24 h window counts as gauges; the relay's figures are
 * their sums, and rates are computed from the sums (never a fold of per-pod rates). Pure.
 */

export const OUTCOMES = ['sent', 'delivered', 'deferred', 'bounced', 'complained'] as const;
export type Outcome = (typeof OUTCOMES)[number];
export type WindowCounts = Record<Outcome, number>;

/** One pod's figures for one domain. */
export interface PodDomainFigures {
  /** 24 h window (`mailrelay_domain_window_messages`). */
  readonly window: WindowCounts;
  /** Since the domain's last resume on the pod, at most 24 h: what breaches are judged on. */
  readonly breach: WindowCounts;
  readonly paused: boolean;
  /** Start (ms) of the relay-wide pause the pod holds, 0 for none. */
  readonly relayWideSince: number;
  /** The pod's last resume (ms), 0 for never. */
  readonly resumedAt: number;
  /** 24 h window per category (`mailrelay_category_window_messages`). */
  readonly categories: ReadonlyMap<string, WindowCounts>;
}

/** One domain over every pod of a relay that answered. */
export interface DomainFigures {
  readonly window: WindowCounts;
  readonly breach: WindowCounts;
  readonly categories: ReadonlyMap<string, WindowCounts>;
  /** Pods that have the domain paused (any source). */
  readonly pausedPods: number;
  readonly pods: number;
}

export interface Rates {
  readonly bounceRate: number;
  readonly complaintRate: number;
  readonly deferralRate: number;
}

const SAMPLE = /^(mailrelay_[a-z_]+)\{([^}]*)\} ([0-9.eE+-]+|NaN)$/;
const LABEL = /([a-z_]+)="([^"]*)"/g;

export function emptyCounts(): WindowCounts {
  return { sent: 0, delivered: 0, deferred: 0, bounced: 0, complained: 0 };
}

function isOutcome(value: string | undefined): value is Outcome {
  return (OUTCOMES as readonly string[]).includes(value ?? '');
}

function labelsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(LABEL)) out[m[1]!] = m[2]!;
  return out;
}

/** Per-domain figures from one pod's Prometheus text exposition. */
export function parseRelayFigures(text: string): Map<string, PodDomainFigures> {
  type Mutable = { window: WindowCounts; breach: WindowCounts; paused: boolean; relayWideSince: number; resumedAt: number; categories: Map<string, WindowCounts> };
  const out = new Map<string, Mutable>();
  const of = (domain: string): Mutable => {
    let f = out.get(domain);
    if (!f) out.set(domain, (f = { window: emptyCounts(), breach: emptyCounts(), paused: false, relayWideSince: 0, resumedAt: 0, categories: new Map() }));
    return f;
  };
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const [, name, rawLabels, raw] = m as unknown as [string, string, string, string];
    const labels = labelsOf(rawLabels);
    const { domain, outcome } = labels;
    const value = Number(raw);
    if (!domain || !Number.isFinite(value) || value < 0) continue;
    switch (name) {
      case 'mailrelay_domain_window_messages':
        if (isOutcome(outcome)) of(domain).window[outcome] = value;
        break;
      case 'mailrelay_domain_breach_window_messages':
        if (isOutcome(outcome)) of(domain).breach[outcome] = value;
        break;
      case 'mailrelay_category_window_messages': {
        const category = labels.category;
        if (!isOutcome(outcome) || !category) break;
        const categories = of(domain).categories;
        if (!categories.has(category)) categories.set(category, emptyCounts());
        categories.get(category)![outcome] = value;
        break;
      }
      case 'mailrelay_domain_paused':
        of(domain).paused = value > 0;
        break;
      case 'mailrelay_domain_relay_wide_pause_start_timestamp_seconds':
        of(domain).relayWideSince = Math.round(value * 1000);
        break;
      case 'mailrelay_domain_last_resume_timestamp_seconds':
        of(domain).resumedAt = Math.round(value * 1000);
        break;
    }
  }
  return out;
}

/**
 * Whether the pod refused the config mounted now (`mailrelay_config_last_reload_success 0`): it
 * serves its last good one, and would fail to start with this one.
 */
export function parseConfigRejected(text: string): boolean {
  return /^mailrelay_config_last_reload_success 0$/m.test(text);
}

function add(a: WindowCounts, b: WindowCounts): WindowCounts {
  const out = emptyCounts();
  for (const k of OUTCOMES) out[k] = a[k] + b[k];
  return out;
}

/** The relay's figures for a domain: every pod's counts summed, category by category too. */
export function sumFigures(pods: readonly PodDomainFigures[]): DomainFigures {
  let window = emptyCounts();
  let breach = emptyCounts();
  const categories = new Map<string, WindowCounts>();
  for (const p of pods) {
    window = add(window, p.window);
    breach = add(breach, p.breach);
    for (const [category, counts] of p.categories) categories.set(category, add(categories.get(category) ?? emptyCounts(), counts));
  }
  return { window, breach, categories, pausedPods: pods.filter((p) => p.paused).length, pods: pods.length };
}

/**
 * The relay's rules, on summed counts: bounce = bounced / sent; complaint = complained /
 * delivered; deferral = deferred / (deferred + sent). A rate with nothing to divide by is 0.
 */
export function ratesOf(c: WindowCounts): Rates {
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  return { bounceRate: ratio(c.bounced, c.sent), complaintRate: ratio(c.complained, c.delivered), deferralRate: ratio(c.deferred, c.deferred + c.sent) };
}

/** Recipients delivered to the big mailbox providers (gmail, microsoft, yahoo, apple), and how many of them over TLS. */
export interface DeliveryTlsFigures {
  readonly delivered: number;
  readonly tls: number;
}

const TLS_SAMPLE = /^mailrelay_outbound_tls_deliveries_total\{([^}]*)\} ([0-9.eE+-]+)$/;

/**
 * TLS use of deliveries to the big providers from one pod's `mailrelay_outbound_tls_deliveries_total`
 * (since the pod started): verified and encrypted count as TLS, none does not. Undefined when
 * the pod has delivered nothing to them.
 */
export function parseDeliveryTls(text: string): DeliveryTlsFigures | undefined {
  let delivered = 0;
  let tls = 0;
  for (const line of text.split('\n')) {
    const m = TLS_SAMPLE.exec(line);
    if (!m) continue;
    const labels = labelsOf(m[1]!);
    const provider = labels.provider;
    const value = Number(m[2]);
    if (!provider || provider === 'other' || !Number.isFinite(value)) continue;
    delivered += value;
    if (labels.tls !== 'none') tls += value;
  }
  return delivered > 0 ? { delivered, tls } : undefined;
}
