import type { ReputationConfig } from '../config/schema.ts';
import { ratesOf, type Counts } from './rolling-counters.ts';

function formatRate(rate: number): string {
  return rate.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
}

/**
 * Why these counts breach these thresholds (rates above the maximum, not at it, once `sent`
 * reaches minVolume), one reason per rate; empty: no breach. Pure: a sending domain and each of
 * its categories are judged by the same rule.
 */
export function decideBreach(c: Counts, thresholds: Pick<ReputationConfig, 'maxBounceRate' | 'maxComplaintRate' | 'minVolume'>): string[] {
  const { maxBounceRate, maxComplaintRate, minVolume } = thresholds;
  const rates = ratesOf(c);
  const reasons: string[] = [];
  if (c.sent < minVolume || c.sent === 0) return reasons;
  if (rates.bounceRate > maxBounceRate) {
    reasons.push(`bounce rate ${formatRate(rates.bounceRate)} above ${maxBounceRate} (${c.hardBounces} hard bounces of ${c.sent} sent)`);
  }
  if (rates.complaintRate > maxComplaintRate) {
    reasons.push(`complaint rate ${formatRate(rates.complaintRate)} above ${maxComplaintRate} (${c.complaints} complaints of ${c.delivered} delivered)`);
  }
  return reasons;
}
