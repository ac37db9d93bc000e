import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configProblems } from './config-problems.ts';
import { parseConfig } from './parse-config.ts';

const withDomain = (domain: Record<string, unknown>) => ({
  hostname: 'relay.example.com',
  listeners: [{ name: 'smtp', port: 2525 }],
  queue: { dir: '/tmp/spool' },
  domains: [{ name: 'example.com', ...domain }],
});

test('domains[].categories takes names and objects; object thresholds default to the domain\'s, bulk to false', () => {
  const config = parseConfig(
    withDomain({
      reputation: { maxBounceRate: 0.05, minVolume: 50 },
      categories: ['transactional', { name: 'newsletter', bulk: true, reputation: { maxComplaintRate: 0.001, pauseOnBreach: true } }],
    }),
  );
  const domainThresholds = { maxBounceRate: 0.05, maxComplaintRate: 0.003, minVolume: 50, pauseOnBreach: true };
  assert.deepEqual(config.domains[0]!.categories, [
    { name: 'transactional', bulk: false, reputation: domainThresholds },
    { name: 'newsletter', bulk: true, reputation: { ...domainThresholds, maxComplaintRate: 0.001 } },
  ]);
  assert.deepEqual(parseConfig(withDomain({})).domains[0]!.categories, [], 'none declared');
});

test('bad category lists are reported with their paths', () => {
  assert.deepEqual(configProblems(withDomain({ categories: ['News', 'a', 'a', { name: 'b', colour: 1 }, { reputation: { maxBounceRate: 2 } }] })), [
    'domains[0].categories[0]: must be a category name: 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit',
    'domains[0].categories[2]: duplicates category a',
    'domains[0].categories[3].colour: unknown key',
    'domains[0].categories[4].name: is required',
    'domains[0].categories[4].reputation.maxBounceRate: must be a number between 0 and 1',
  ]);
  assert.deepEqual(configProblems(withDomain({ categories: 'newsletter' })), ['domains[0].categories: must be a list']);
  const many = Array.from({ length: 33 }, (_, i) => `c${i}`);
  assert.deepEqual(configProblems(withDomain({ categories: many })), ['domains[0].categories: must list at most 32 categories']);
});
