import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/parse-config.ts';
import { categoryThresholds, countedCategories, countedCategory } from './counted-category.ts';
import { decideBreach } from './decide-breach.ts';

const domain = parseConfig({
  hostname: 'relay.example.com',
  listeners: [{ name: 'smtp', port: 2525 }],
  queue: { dir: '/tmp/spool' },
  domains: [{ name: 'example.com', reputation: { maxBounceRate: 0.2 }, categories: ['transactional', { name: 'newsletter', reputation: { maxBounceRate: 0.05 } }] }],
}).domains[0]!;

test('a declared category counts as itself; an undeclared one, or none, as other', () => {
  assert.equal(countedCategory(domain, 'newsletter'), 'newsletter');
  assert.equal(countedCategory(domain, 'promo'), 'other');
  assert.equal(countedCategory(domain, undefined), 'other');
  assert.deepEqual(countedCategories(domain), ['transactional', 'newsletter', 'other']);
  assert.deepEqual(countedCategories({ categories: [{ name: 'other', bulk: false, reputation: domain.reputation }] }), ['other'], 'other declared: listed once');
});

test("a category is judged by its own thresholds, else by the domain's", () => {
  assert.equal(categoryThresholds(domain, 'newsletter').maxBounceRate, 0.05);
  assert.equal(categoryThresholds(domain, 'transactional').maxBounceRate, 0.2);
  assert.equal(categoryThresholds(domain, 'other').maxBounceRate, 0.2);
});

test('a breach is a rate above its maximum at minVolume, never at it', () => {
  const counts = (sent: number, hardBounces: number, delivered = sent - hardBounces, complaints = 0) => ({ sent, delivered, hardBounces, deferrals: 0, complaints });
  const t = { maxBounceRate: 0.25, maxComplaintRate: 0.1, minVolume: 4 };
  assert.deepEqual(decideBreach(counts(4, 1), t), [], 'at the limit');
  assert.deepEqual(decideBreach(counts(3, 3), t), [], 'below minVolume');
  assert.deepEqual(decideBreach(counts(6, 2), t), ['bounce rate 0.3333 above 0.25 (2 hard bounces of 6 sent)']);
  assert.deepEqual(decideBreach(counts(10, 0, 10, 2), t), ['complaint rate 0.2 above 0.1 (2 complaints of 10 delivered)']);
  assert.deepEqual(decideBreach(counts(0, 0), { ...t, minVolume: 0 }), [], 'nothing sent');
});
