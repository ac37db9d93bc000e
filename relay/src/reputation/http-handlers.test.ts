import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/parse-config.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { testLogger } from '../../../test/helpers/logger.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { ReputationService } from './reputation-service.ts';
import { createReputationHandlers } from './http-handlers.ts';

async function service(now: () => number) {
  const dir = await mkdtemp(join(tmpdir(), 'mail-relay-'));
  const config = parseConfig({
    hostname: 'relay.example.com',
    listeners: [{ name: 'smtp', port: 0 }],
    queue: { dir: join(dir, 'spool') },
    domains: [{ name: 'example.com', reputation: { minVolume: 2, maxBounceRate: 0.4 } }, { name: 'example.org', paused: true }],
  });
  const s = await ReputationService.open({ config, metrics: createMetrics(), logger: testLogger, now });
  // Close before removing the folder: closing saves the counters into it.
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  return s;
}

test('GET reputation reports both windows, thresholds and the pause; unknown domains are 404', async () => {
  let now = Date.UTC(2026, 10, 28, 12);
  const s = await service(() => now);
  const h = createReputationHandlers(s);
  const event = { domain: 'example.com', enhancedStatus: '2.0.0', reply: '250 ok' };
  s.recordOutcome({ ...event, recipient: 'a@example.net', status: 'delivered' });
  now += 2 * 3_600_000;
  s.recordOutcome({ ...event, recipient: 'b@example.net', status: 'deferred', enhancedStatus: '4.0.0', reply: '451 later' });
  s.recordOutcome({ ...event, recipient: 'c@example.net', status: 'bounced', enhancedStatus: '5.1.1', reply: '550 5.1.1 unknown' });
  const res = await h.getReputation({ domain: 'Example.COM' });
  assert.equal(res.status, 200);
  const body = res.body as { paused: { source: string; reason: string; since: string }; windows: Record<string, Record<string, number>>; thresholds: { minVolume: number } };
  assert.deepEqual(body.windows['1h'], { sent: 1, delivered: 0, hardBounces: 1, deferrals: 1, complaints: 0, bounceRate: 1, complaintRate: 0, deferralRate: 0.5 });
  assert.deepEqual(body.windows['24h'], { sent: 2, delivered: 1, hardBounces: 1, deferrals: 1, complaints: 0, bounceRate: 0.5, complaintRate: 0, deferralRate: 1 / 3 });
  assert.equal(body.thresholds.minVolume, 2);
  assert.equal(body.paused.source, 'reputation');
  assert.equal(body.paused.since, new Date(now).toISOString());
  assert.equal(s.pausedReason('example.com'), body.paused.reason);
  const org = await h.getReputation({ domain: 'example.org' });
  assert.equal((org.body as { paused: { source: string } }).paused.source, 'config');
  assert.match(s.pausedReason('example.org') ?? '', /paused by configuration/, 'a config pause refuses new mail too');
  assert.deepEqual(s.pausedDomains().sort(), ['example.com', 'example.org']);
  assert.equal((await h.getReputation({ domain: 'example.net' })).status, 404);
  assert.equal((await h.resumeDomain({ domain: 'example.net' })).status, 404);
  assert.equal((await h.resumeDomain({ domain: 'example.org' })).status, 409);
});

test('suppressions: list needs a known domain and a sane limit; delete is 204 once, then 404', async () => {
  const s = await service(() => Date.UTC(2026, 10, 28, 12));
  const h = createReputationHandlers(s);
  for (const r of ['a@example.net', 'b@example.net', 'c@example.net']) {
    s.recordOutcome({ domain: 'example.com', recipient: r, status: 'bounced', enhancedStatus: '5.1.1', reply: '550 5.1.1 unknown' });
  }
  await s.recordAsyncBounce({ queueId: '0mx0ocs85001omw8', index: 0 }, 'example.com', 'd@example.net', '5.1.1', 'smtp; 550 5.1.1 unknown');
  await s.recordComplaint({ queueId: '0mx0ocs85001omw8', index: 1 }, 'example.com', 'e@example.net', 'abuse');
  // suppressions from delivery outcomes are written behind
  await waitFor('five suppressions', () => s.listSuppressions('example.com').length === 5);
  assert.equal((await h.listSuppressions({}, {})).status, 400);
  assert.equal((await h.listSuppressions({}, { domain: 'example.net' })).status, 404);
  assert.equal((await h.listSuppressions({}, { domain: 'example.com', limit: '0' })).status, 400);
  assert.equal((await h.listSuppressions({}, { domain: 'example.com', limit: 'ten' })).status, 400);
  const page = await h.listSuppressions({}, { domain: 'example.com', limit: '2' });
  assert.equal(page.status, 200);
  const body = page.body as { total: number; suppressions: Array<{ recipient: string; reason: string; expiresAt: string }> };
  assert.equal(body.total, 5);
  assert.equal(body.suppressions.length, 2);
  assert.equal(body.suppressions[0]!.expiresAt, new Date(Date.UTC(2026, 10, 28, 12) + 30 * 86_400_000).toISOString(), 'default expiry 30 days');
  const all = (await h.listSuppressions({}, { domain: 'example.com' })).body as typeof body;
  assert.deepEqual(
    all.suppressions.map((x) => x.reason).sort(),
    ['complaint', 'hard_bounce', 'hard_bounce', 'hard_bounce', 'hard_bounce'],
  );
  assert.deepEqual(await h.deleteSuppression({ domain: 'example.com', recipient: 'A@example.net' }), { status: 204, body: null });
  assert.equal((await h.deleteSuppression({ domain: 'example.com', recipient: 'a@example.net' })).status, 404);
  assert.equal((await h.deleteSuppression({ domain: 'example.com', recipient: 'nobody' })).status, 400);
  assert.equal(s.isSuppressed('example.com', 'a@example.net'), false);
  assert.equal(s.isSuppressed('example.com', 'b@example.net'), true);
});
