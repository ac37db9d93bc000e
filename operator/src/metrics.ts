import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's metrics (DESIGN.md names). One registry per process, or per test. */
export function createOperatorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
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
  };
}

export type OperatorMetrics = ReturnType<typeof createOperatorMetrics>;
