import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { reputationWorld, type ReputationWorld } from '../../../test/helpers/reputation-world.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { createReputationHandlers } from './http-handlers.ts';

const TOKEN = 'admin-token-0123456789abcdef';
const PAUSED = /^mailrelay_domain_paused\{domain="example\.com"\}/;
const bouncing = { onRcpt: (a: string) => (a.startsWith('bad') ? { code: 550, text: '5.1.1 no such user' } : undefined) };

/** A relay with the admin API on TCP, as the operator reaches a pod. */
async function world(reputation: Record<string, unknown> = {}): Promise<ReputationWorld> {
  const dir = await tempDir();
  const tokenFile = join(dir, 'admin.token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  return reputationWorld({ reputation, mx: bouncing, config: { admin: { address: '127.0.0.1', port: 0, tokenFile } } });
}

async function admin(w: ReputationWorld, method: string, path: string, body?: unknown, token = TOKEN) {
  const res = await fetch(`http://127.0.0.1:${w.h.relay.admin!.tcpPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { response?: string }).response ?? String(err);
  }
  return 'accepted';
}

test('a relay-wide pause from the admin API refuses mail, is idempotent, survives a restart and is lifted by a resume, which is stamped after it', async () => {
  const w = await world();
  assert.equal((await admin(w, 'POST', '/v1/domains/example.com/pause', { source: 'relay-wide', reason: 'x' }, 'wrong-token-0123456789')).status, 401);
  const since = new Date(Date.now() - 1000).toISOString();
  const pause = { source: 'relay-wide', reason: 'relay-wide: bounce rate 0.2 above 0.1 (20 hard bounces of 100 sent)', since };
  const first = await admin(w, 'POST', '/v1/domains/example.com/pause', pause);
  assert.equal(first.status, 200);
  assert.equal(first.body!.changed, true);
  assert.deepEqual(first.body!.pauses, [{ source: 'relay-wide', reason: pause.reason, since }]);
  assert.equal((await admin(w, 'POST', '/v1/domains/example.com/pause', pause)).body!.changed, false, 'the same pause again changes nothing');
  assert.equal(await w.metric(PAUSED), 1);
  assert.equal(await w.metric(/^mailrelay_domain_relay_wide_pause_start_timestamp_seconds\{domain="example\.com"\}/), Date.parse(since) / 1000);
  assert.match(await refusal(w.send({ to: 'new@example.net' })), /^451 4\.7\.1 Sending domain example\.com is paused: relay-wide: bounce rate 0\.2/);
  await w.send({ from: 'app@example.org', to: 'someone@example.net' });

  w.h = await w.h.restart();
  assert.equal(await w.metric(PAUSED), 1, 'persisted: the pause survives a restart');
  const report = await createReputationHandlers(w.h.relay.reputation).getReputation({ domain: 'example.com' });
  assert.deepEqual((report.body as { paused: unknown }).paused, { source: 'relay-wide', reason: pause.reason, since });

  const resumed = await admin(w, 'POST', '/v1/domains/example.com/resume', {});
  assert.equal(resumed.status, 200);
  assert.equal(resumed.body!.changed, true);
  assert.deepEqual(resumed.body!.pauses, []);
  const resumedAt = Date.parse(resumed.body!.resumedAt as string);
  assert.ok(resumedAt > Date.parse(since), 'stamped after the pause it lifted');
  assert.equal(await w.metric(/^mailrelay_domain_last_resume_timestamp_seconds\{domain="example\.com"\}/), resumedAt / 1000);
  assert.equal(await w.metric(PAUSED), 0);
  await w.settled(await w.send({ to: 'after@example.net' }));
  // a pause decided before that resume is refused: the resume wins
  const stale = await admin(w, 'POST', '/v1/domains/example.com/pause', pause);
  assert.equal(stale.status, 409);
  assert.equal(stale.body!.error, 'resumed_since');
  w.h = await w.h.restart();
  assert.equal(await w.metric(PAUSED), 0, 'the resume is persisted too');
  assert.equal(await w.metric(/^mailrelay_domain_last_resume_timestamp_seconds\{domain="example\.com"\}/), resumedAt / 1000);
});

test('the operator carries another pod\'s resume with before: older pauses go, the resume time is taken as given, and breaches start afresh', async () => {
  const w = await world({ minVolume: 1, maxBounceRate: 0.5 });
  await w.settled(await w.send({ to: 'bad@example.net' }));
  assert.equal(await w.metric(PAUSED), 1, 'no operator lease: the pod pauses on its own figures');
  assert.equal(await w.metric(/^mailrelay_domain_breach_window_messages\{domain="example\.com",outcome="bounced"\}/), 1);
  const before = new Date(Date.now() + 5).toISOString();
  const carried = await admin(w, 'POST', '/v1/domains/example.com/resume', { source: 'relay-wide', before });
  assert.equal(carried.body!.changed, true);
  assert.equal(carried.body!.resumedAt, before);
  assert.equal(await w.metric(PAUSED), 0);
  assert.equal(await w.metric(/^mailrelay_domain_breach_window_messages\{domain="example\.com",outcome="bounced"\}/), 0, 'judged afresh');
  assert.equal(await w.metric(/^mailrelay_domain_window_messages\{domain="example\.com",outcome="bounced"\}/), 1, 'the 24 h window keeps it');
  assert.equal(await w.metric(/^mailrelay_domain_window_messages\{domain="example\.com",outcome="sent"\}/), 1);
  const again = await admin(w, 'POST', '/v1/domains/example.com/resume', { source: 'relay-wide', before });
  assert.equal(again.body!.changed, false, 'idempotent');
  assert.equal((await admin(w, 'POST', '/v1/domains/example.com/resume', { source: 'relay-wide', before: 'yesterday' })).status, 400);
  assert.equal((await admin(w, 'POST', '/v1/domains/nope.example/resume', {})).status, 404);
});

test('while the operator holds a lease the pod leaves the breach to it and shows the relay-wide sums; when the lease runs out it pauses on its own figures again', async () => {
  const w = await world({ minVolume: 1, maxBounceRate: 0.5 });
  const at = new Date().toISOString();
  const push = { at, leaseSeconds: 600, domains: { 'example.com': { sent: 100, delivered: 99, hardBounces: 1, deferrals: 0, complaints: 0 } } };
  assert.equal((await admin(w, 'PUT', '/v1/reputation/relay-wide', push)).status, 204);
  await w.settled(await w.send({ to: 'bad@example.net' }));
  assert.equal(await w.metric(PAUSED), 0, 'one bounce of one on this pod, but the operator judges the sums');
  const report = (await createReputationHandlers(w.h.relay.reputation).getReputation({ domain: 'example.com' })).body as {
    windows: { '24h': { sent: number; hardBounces: number } };
    relay: { at: string; '24h': { sent: number; hardBounces: number; bounceRate: number } };
  };
  assert.deepEqual([report.windows['24h'].sent, report.windows['24h'].hardBounces], [1, 1], 'this pod');
  assert.deepEqual(report.relay, { at, '24h': { sent: 100, delivered: 99, hardBounces: 1, deferrals: 0, complaints: 0, bounceRate: 0.01, complaintRate: 0, deferralRate: 0 } });

  assert.equal((await admin(w, 'PUT', '/v1/reputation/relay-wide', { ...push, leaseSeconds: 0 })).status, 204);
  await w.settled(await w.send({ to: 'bad2@example.net' }));
  assert.equal(await w.metric(PAUSED), 1, 'the operator is away: the pod pauses on its own figures');
  const bad = await admin(w, 'PUT', '/v1/reputation/relay-wide', { at: 'now', leaseSeconds: 9999, domains: { 'example.com': { sent: -1 } } });
  assert.equal(bad.status, 400);
  assert.match(String(bad.body!.message), /at: must be an RFC 3339 time.*leaseSeconds: must be a number of seconds from 0 to 600.*domains\.example\.com\.sent: must be a whole number/);
});

test('spec.paused pushed ahead of the mounted file pauses and unpauses at once; the HTTP API cannot lift it', async () => {
  const w = await world();
  assert.equal((await admin(w, 'POST', '/v1/domains/example.com/pause', { source: 'spec' })).status, 200);
  assert.equal(await w.metric(PAUSED), 1);
  assert.match(await refusal(w.send({ to: 'new@example.net' })), /^451 4\.7\.1 Sending domain example\.com is paused: paused by configuration/);
  const conflict = await createReputationHandlers(w.h.relay.reputation).resumeDomain({ domain: 'example.com' });
  assert.equal(conflict.status, 409, 'the HTTP API does not lift a config pause');
  assert.equal((await admin(w, 'POST', '/v1/domains/example.com/resume', { source: 'spec' })).status, 200);
  assert.equal(await w.metric(PAUSED), 0);
  await w.settled(await w.send({ to: 'after@example.net' }));
});
