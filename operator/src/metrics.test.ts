import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SendingDomain } from './api/v1alpha1/types.ts';
import { createOperatorMetrics } from './metrics.ts';
import { sampleDomain } from './resources/fixtures.ts';

const withConditions = (sd: SendingDomain, conditions: [string, 'True' | 'False' | 'Unknown'][]): SendingDomain => ({
  ...sd,
  status: { conditions: conditions.map(([type, status]) => ({ type, status, reason: 'R', message: 'm', lastTransitionTime: '2026-12-05T00:00:00Z' })) },
});

test('exports each SendingDomain condition from the cache at scrape time: 1 True, 0 False, Unknown left out, deleted domains gone', async () => {
  const metrics = createOperatorMetrics();
  let domains: SendingDomain[] = [
    withConditions(sampleDomain('news', 'news.example.com'), [['BulkSenderReady', 'False'], ['DNSVerified', 'True'], ['Paused', 'Unknown']]),
    withConditions(sampleDomain('shop', 'shop.example.com'), [['BulkSenderReady', 'True']]),
  ];
  metrics.observeSendingDomains(() => domains);
  const samples = async () => (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('mailrelay_operator_sending_domain_condition{'));
  assert.deepEqual(await samples(), [
    'mailrelay_operator_sending_domain_condition{namespace="mail",relay="outbound",domain="news.example.com",name="news",condition="BulkSenderReady"} 0',
    'mailrelay_operator_sending_domain_condition{namespace="mail",relay="outbound",domain="news.example.com",name="news",condition="DNSVerified"} 1',
    'mailrelay_operator_sending_domain_condition{namespace="mail",relay="outbound",domain="shop.example.com",name="shop",condition="BulkSenderReady"} 1',
  ]);
  domains = domains.slice(1);
  assert.equal((await samples()).length, 1);
});
