import { createOperatorMetrics } from '../../operator/src/metrics.ts';
import { parseMetricFamilies } from './metric-families.ts';

/**
 * The operator's metric families, from the `# TYPE` lines of its own registry (what its /metrics
 * serves). The one place to change to scrape a running operator instead, once the tests run one.
 */
export async function operatorMetricFamilies(): Promise<Array<{ name: string; type: string }>> {
  return parseMetricFamilies(await createOperatorMetrics().registry.metrics());
}
