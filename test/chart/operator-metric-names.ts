/**
 * The operator's metric families as `# TYPE` lines would give them, for the dashboard and alert
 * checks. The one place to change when the operator runs in tests: replace this list with a scrape
 * of its /metrics, as dashboard.test.ts scrapes a running relay.
 */
export const OPERATOR_METRIC_FAMILIES: ReadonlyArray<{ name: string; type: 'counter' | 'gauge' | 'histogram' }> = [
  { name: 'mailrelay_operator_reconcile_total', type: 'counter' },
  { name: 'mailrelay_operator_reconcile_duration_seconds', type: 'histogram' },
];
