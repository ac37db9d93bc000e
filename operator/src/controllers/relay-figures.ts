/**
 * A SendingDomain's reputation as its relay pods report it on /metrics (the relay's own names,
 * DESIGN.md "Metrics"). Parsing is pure; several pods of one relay are folded into one figure.
 */

export interface DomainFigures {
  /** 24 h rates. Across pods the highest is kept: the pause decision is per pod. */
  bounceRate: number;
  complaintRate: number;
  deferralRate: number;
  delivered: number;
  bounced: number;
  complaints: number;
  /** Pods that have the domain paused. */
  pausedPods: number;
  pods: number;
}

const SAMPLE = /^(mailrelay_[a-z_]+)\{([^}]*)\} ([0-9.eE+-]+|NaN)$/;

function label(labels: string, name: string): string | undefined {
  return new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1];
}

/** Per-domain figures from one pod's Prometheus text exposition. */
export function parseRelayFigures(text: string): Map<string, DomainFigures> {
  const out = new Map<string, DomainFigures>();
  const of = (domain: string): DomainFigures => {
    let f = out.get(domain);
    if (!f) out.set(domain, (f = { bounceRate: 0, complaintRate: 0, deferralRate: 0, delivered: 0, bounced: 0, complaints: 0, pausedPods: 0, pods: 1 }));
    return f;
  };
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const [, name, labels, raw] = m as unknown as [string, string, string, string];
    const domain = label(labels, 'domain');
    const value = Number(raw);
    if (!domain || !Number.isFinite(value)) continue;
    const f = of(domain);
    switch (name) {
      case 'mailrelay_domain_bounce_rate':
        f.bounceRate = value;
        break;
      case 'mailrelay_domain_complaint_rate':
        f.complaintRate = value;
        break;
      case 'mailrelay_domain_deferral_rate':
        f.deferralRate = value;
        break;
      case 'mailrelay_domain_paused':
        f.pausedPods = value > 0 ? 1 : 0;
        break;
      case 'mailrelay_messages_delivered_total':
        f.delivered += value;
        break;
      case 'mailrelay_messages_bounced_total':
        f.bounced += value;
        break;
      case 'mailrelay_complaints_total':
        f.complaints += value;
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
    const provider = label(m[1]!, 'provider');
    const value = Number(m[2]);
    if (!provider || provider === 'other' || !Number.isFinite(value)) continue;
    delivered += value;
    if (label(m[1]!, 'tls') !== 'none') tls += value;
  }
  return delivered > 0 ? { delivered, tls } : undefined;
}

export function mergeFigures(a: DomainFigures, b: DomainFigures): DomainFigures {
  return {
    bounceRate: Math.max(a.bounceRate, b.bounceRate),
    complaintRate: Math.max(a.complaintRate, b.complaintRate),
    deferralRate: Math.max(a.deferralRate, b.deferralRate),
    delivered: a.delivered + b.delivered,
    bounced: a.bounced + b.bounced,
    complaints: a.complaints + b.complaints,
    pausedPods: a.pausedPods + b.pausedPods,
    pods: a.pods + b.pods,
  };
}
