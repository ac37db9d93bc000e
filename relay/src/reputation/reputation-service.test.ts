import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { reputationWorld } from '../../../test/helpers/reputation-world.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { arfReport } from '../../../test/helpers/feedback-reports.ts';
import { createReputationHandlers } from './http-handlers.ts';

const PAUSED = /^mailrelay_domain_paused\{domain="example\.com"\}/;

/** The SMTP error of a refused send (nodemailer rejects with it). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { response?: string }).response ?? String(err);
  }
  return 'accepted';
}

test('hard bounces pause the domain exactly when the bounce rate passes the threshold at volume; the pause holds mail, survives a restart and is lifted by resume', async () => {
  const slow = { accept: false };
  const w = await reputationWorld({
    reputation: { minVolume: 4, maxBounceRate: 0.25 },
    mx: {
      onRcpt: (a) => {
        if (a.startsWith('bad')) return { code: 550, text: '5.1.1 no such user' };
        if (a.startsWith('slow') && !slow.accept) return { code: 451, text: '4.3.0 try again later' };
        return undefined;
      },
    },
  });
  // one message that keeps being deferred: it is queued when the pause comes
  const queued = await w.send({ to: 'slow@example.net' });
  const sendAndSettle = async (to: string) => w.settled(await w.send({ to }));
  for (const to of ['good1@example.net', 'good2@example.net', 'good3@example.net', 'bad1@example.net']) await sendAndSettle(to);
  // 1 of 4 bounced: at the limit (0.25), not above it
  assert.equal(await w.metric(PAUSED), 0);
  assert.equal(await w.metric(/^mailrelay_domain_bounce_rate\{domain="example\.com"\}/), 0.25);
  await sendAndSettle('good4@example.net');
  assert.equal(await w.metric(PAUSED), 0, '1 of 5');
  await sendAndSettle('bad2@example.net');
  // 2 of 6 = 0.33 > 0.25 with 6 >= minVolume
  assert.equal(await w.metric(PAUSED), 1);
  assert.equal(await w.metric(/^mailrelay_domain_bounce_rate\{domain="example\.com"\}/), 2 / 6);
  assert.equal(await w.metric(/^mailrelay_domain_paused\{domain="example\.org"\}/), 0, 'other domains keep sending');
  assert.ok((await w.metric(/^mailrelay_domain_deferral_rate\{domain="example\.com"\}/)) > 0, 'slow@ was deferred');
  assert.equal(await w.metric(/^mailrelay_domain_complaint_rate\{domain="example\.com"\}/), 0);
  assert.match(await refusal(w.send({ to: 'new@example.net' })), /^451 4\.7\.1 Sending domain example\.com is paused: bounce rate 0\.3333 above 0\.25 \(2 hard bounces of 6 sent\)/);
  assert.equal(await w.metric(/^mailrelay_messages_rejected_total\{listener="plain",reason="domain_paused"\}/), 1);
  await w.send({ from: 'app@example.org', to: 'someone@example.net' });
  await waitFor('the queued message is held', async () => (await w.metric(/^mailrelay_queue_messages\{state="held"\}/)) === 1);
  const attemptsWhenHeld = w.mx.attempts.length;

  const h2 = await w.h.restart();
  w.h = h2;
  assert.equal(await w.metric(PAUSED), 1, 'the pause survives a restart');
  assert.match(await refusal(w.send({ to: 'new@example.net' })), /^451 4\.7\.1 /);
  await waitFor('held again after the restart', async () => (await w.metric(/^mailrelay_queue_messages\{state="held"\}/)) === 1);
  const report = await createReputationHandlers(h2.relay.reputation).getReputation({ domain: 'example.com' });
  assert.equal(report.status, 200);
  const body = report.body as { paused: { source: string; reason: string }; windows: { '24h': { sent: number; hardBounces: number; delivered: number } } };
  assert.equal(body.paused.source, 'reputation');
  assert.deepEqual([body.windows['24h'].sent, body.windows['24h'].delivered, body.windows['24h'].hardBounces], [6, 4, 2], 'counters were saved on shutdown');
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(w.mx.attempts.length - attemptsWhenHeld <= 2, 'no delivery attempts for the held message');

  slow.accept = true;
  const resumed = await createReputationHandlers(h2.relay.reputation).resumeDomain({ domain: 'example.com' });
  assert.deepEqual(resumed, { status: 200, body: { domain: 'example.com', resumed: true, paused: false } });
  assert.equal(await w.metric(PAUSED), 0);
  await waitFor('the held message is delivered', () => w.mx.messages.some((m) => m.to.includes('slow@example.net')));
  await w.settled(queued);
  await sendAndSettle('after@example.net');
  assert.equal(await w.metric(PAUSED), 0, 'breaches are judged afresh after a resume');
  assert.deepEqual(await createReputationHandlers(h2.relay.reputation).resumeDomain({ domain: 'example.com' }), {
    status: 200,
    body: { domain: 'example.com', resumed: false, paused: false },
  });
});

test('ARF complaints over SMTP pause the domain when the complaint rate passes the threshold; complainants are suppressed', async () => {
  const w = await reputationWorld({
    reputation: { minVolume: 4, maxComplaintRate: 0.25 },
    config: { feedback: { verpDomain: 'bounces.example.com', complaintAddress: 'fbl@example.com' } },
  });
  const readers = ['r1@yahoo.com', 'r2@yahoo.com', 'r3@yahoo.com', 'r4@yahoo.com'];
  for (const to of readers) await w.settled(await w.send({ to }));
  const returnPathOf = (to: string) => w.mx.messages.find((m) => m.to.includes(to))!.from;
  const complain = async (reader: string) => {
    const replies = await w.sendRaw('feedback@arf.mail.yahoo.com', ['fbl@example.com'], arfReport({
      to: 'fbl@example.com',
      originalMailFrom: returnPathOf(reader),
      originalRcptTo: reader,
      returnPath: returnPathOf(reader),
      originalTo: reader,
    }));
    assert.equal(replies.at(-1), '250 2.0.0 Ok: report received');
  };
  await complain('r1@yahoo.com');
  // 1 complaint of 4 delivered: at the limit
  assert.equal(await w.metric(PAUSED), 0);
  assert.equal(await w.metric(/^mailrelay_complaints_total\{domain="example\.com"\}/), 1);
  assert.equal(await w.metric(/^mailrelay_domain_complaint_rate\{domain="example\.com"\}/), 0.25);
  assert.match(await refusal(w.send({ to: 'r1@yahoo.com' })), /^550 5\.1\.1 Recipient is suppressed for example\.com/);
  await w.send({ from: 'news@example.org', to: 'r1@yahoo.com' }); // suppression is per sending domain
  await complain('r2@yahoo.com');
  assert.equal(await w.metric(PAUSED), 1);
  assert.equal(await w.metric(/^mailrelay_complaints_total\{domain="example\.com"\}/), 2);
  assert.match(await refusal(w.send({ to: 'r3@yahoo.com' })), /^451 4\.7\.1 Sending domain example\.com is paused: complaint rate 0\.5 above 0\.25/);
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="counted"\}/), 2);
});

test('a config resumeBefore later than the pause lifts it at start-up; a config pause refuses new mail and only the config lifts it', async () => {
  const w = await reputationWorld({ reputation: { minVolume: 1, maxBounceRate: 0 }, mx: { onRcpt: (a) => (a.startsWith('bad') ? { code: 550, text: '5.1.1 no such user' } : undefined) } });
  await w.settled(await w.send({ to: 'bad@example.net' }));
  assert.equal(await w.metric(PAUSED), 1);
  const raw = parse(readFileSync(w.h.configPath, 'utf8')) as { domains: Array<{ reputation: Record<string, unknown>; paused?: boolean }> };
  raw.domains[0]!.reputation.resumeBefore = new Date(Date.now() + 1000).toISOString();
  writeFileSync(w.h.configPath, stringify(raw));
  await waitFor('resumed by the config', async () => (await w.metric(PAUSED)) === 0);
  raw.domains[0]!.paused = true;
  writeFileSync(w.h.configPath, stringify(raw));
  await waitFor('paused by the config', async () => (await w.metric(PAUSED)) === 1);
  await assert.rejects(w.send({ to: 'refused@example.net' }), /451.*4\.7\.1/);
  const handlers = createReputationHandlers(w.h.relay.reputation);
  const conflict = await handlers.resumeDomain({ domain: 'example.com' });
  assert.equal(conflict.status, 409);
  raw.domains[0]!.paused = false;
  writeFileSync(w.h.configPath, stringify(raw));
  await waitFor('unpaused by the config', async () => (await w.metric(PAUSED)) === 0);
  await w.settled(await w.send({ to: 'later@example.net' }));
});
