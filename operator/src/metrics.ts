import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SendingDomain } from './api/v1alpha1/types.ts';

/** The operator's metrics (DESIGN.md names). One registry per process, or per test. */
export function createOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let sendingDomains: () => readonly SendingDomain[] = () => [];
  return {
    registry,
    reconcileTotal: new Counter({
      name: 'mailrelay_operator_reconcile_total',
      help: 'Reconciles by kind and result (success or error).',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'mailrelay_operator_reconcile_duration_seconds',
      help: 'Time one reconcile takes, by kind.',
      labelNames: ['kind'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    apiWrites: new Counter({
      name: 'mailrelay_operator_api_writes_total',
      help: 'Write requests sent to the API server (server-side apply, status, delete), by object kind and result.',
      labelNames: ['kind', 'result'] as const,
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'mailrelay_operator_leader',
      help: '1 while this process holds the leader Lease and reconciles, else 0.',
      registers: [registry],
    }),
    // Read from the informer cache at each scrape, so a deleted SendingDomain's series go with it.
    sendingDomainCondition: new Gauge({
      name: 'mailrelay_operator_sending_domain_condition',
      help: "1 while a SendingDomain's condition is True, 0 while False, from its status (BulkSenderReady, DNSVerified, ...).",
      labelNames: ['namespace', 'relay', 'domain', 'name', 'condition'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const sd of sendingDomains()) {
          for (const c of sd.status?.conditions ?? []) {
            if (c.status === 'Unknown') continue;
            this.set({ namespace: sd.metadata.namespace, relay: sd.spec.relayRef.name, domain: sd.spec.domain, name: sd.metadata.name, condition: c.type }, c.status === 'True' ? 1 : 0);
          }
        }
      },
    }),
    /** Where sendingDomainCondition reads the SendingDomains from (the manager's cache). */
    observeSendingDomains(source: () => readonly SendingDomain[]): void {
      sendingDomains = source;
    },
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
