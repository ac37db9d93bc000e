import { OTHER_CATEGORY, type CategoryConfig, type DomainConfig } from '../config/schema.ts';

/**
 * The category a message is counted in: the one submitted when its sending domain declares it,
 * else `other` (undeclared, or none), so metric labels stay within what relay.yaml lists.
 * Pure; the message keeps the category as submitted.
 */
export function countedCategory(domain: Pick<DomainConfig, 'categories'>, submitted: string | undefined): string {
  return submitted !== undefined && domain.categories.some((c) => c.name === submitted) ? submitted : OTHER_CATEGORY;
}

/** Every category counted for the domain: the declared ones, and `other`. */
export function countedCategories(domain: Pick<DomainConfig, 'categories'>): string[] {
  const names = domain.categories.map((c) => c.name);
  return names.includes(OTHER_CATEGORY) ? names : [...names, OTHER_CATEGORY];
}

/** A category's thresholds: its own when declared (each defaulting to the domain's), else the domain's. */
export function categoryThresholds(domain: Pick<DomainConfig, 'categories' | 'reputation'>, counted: string): CategoryConfig['reputation'] {
  const declared = domain.categories.find((c) => c.name === counted);
  if (declared) return declared.reputation;
  const { maxBounceRate, maxComplaintRate, minVolume, pauseOnBreach } = domain.reputation;
  return { maxBounceRate, maxComplaintRate, minVolume, pauseOnBreach };
}
