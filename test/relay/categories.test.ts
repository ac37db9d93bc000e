import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { after } from 'node:test';
import { dkimVerify } from 'mailauth';
import { buildDkimDnsRecord } from '../../relay/src/dkim/dkim-signer.ts';
import { reputationWorld, type ReputationWorld } from '../helpers/reputation-world.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { arfReport } from '../helpers/feedback-reports.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const TOKEN = 'app-categories-secret-token-01';
const LABELS = { category: 'newsletter', tags: ['spring', 'sale'], metadata: { campaign: 'spring sale 2026, second wave', list: 'weekly readers' } };
/** The same labels as header fields; nodemailer folds the long metadata line, which the relay unfolds. */
const LABEL_HEADERS = {
  'X-Mail-Relay-Category': LABELS.category,
  'X-Mail-Relay-Tags': 'spring, sale',
  'X-Mail-Relay-Metadata': JSON.stringify(LABELS.metadata),
};

interface CategoryWorld extends ReputationWorld {
  readonly dns: DnsServer;
  api(path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
}

/**
 * example.com declares transactional and newsletter; newsletter pauses at a bounce rate above
 * 0.25 once 4 recipients were sent, the domain only after 100. Mail goes to a real SMTP server
 * that refuses bad* (550 5.1.1) and defers slow* while `slow.defer`; example.com signs with
 * DKIM, its key published in a loopback DNS server.
 */
async function categoryWorld(slow = { defer: true }): Promise<CategoryWorld> {
  const keyDir = await tempDir();
  const dns = await startDnsServer();
  after(() => dns.close());
  const key = generateKeyPairSync('ed25519');
  const keyFile = join(keyDir, 'example.com.key');
  writeFileSync(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  dns.set('mr1._domainkey.example.com', { txt: [[buildDkimDnsRecord(key.publicKey)]] });
  const w = await reputationWorld({
    tokens: [{ name: 'app', token: TOKEN, allowedSenderDomains: ['example.com'] }],
    mx: {
      onRcpt: (a) => {
        if (a.startsWith('bad')) return { code: 550, text: '5.1.1 no such user' };
        if (a.startsWith('slow') && slow.defer) return { code: 451, text: '4.3.0 try again later' };
        return undefined;
      },
    },
    config: {
      domains: [
        {
          name: 'example.com',
          dkim: { selector: 'mr1', privateKeyFile: keyFile, algorithm: 'ed25519-sha256' },
          categories: ['transactional', { name: 'newsletter', bulk: true, reputation: { maxBounceRate: 0.25, minVolume: 4 } }],
        },
        { name: 'example.org' },
      ],
      feedback: { verpDomain: 'bounces.example.com', complaintAddress: 'fbl@example.com' },
    },
  });
  return Object.assign(w, {
    dns,
    async api(path: string, body?: unknown) {
      const res = await fetch(`${w.h.apiUrl}${path}`, {
        method: body === undefined && !path.endsWith('/resume') ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
  });
}

/** The SMTP error of a refused send (nodemailer rejects with it). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as { response?: string }).response ?? String(err);
  }
  return 'accepted';
}

const message = (to: string, extra: Record<string, unknown> = {}) => ({
  from: 'App <app@example.com>',
  to: [to],
  subject: 'Spring sale',
  text: 'Everything must go.',
  ...extra,
});

test('the label header fields never reach the recipient, the message as delivered verifies with DKIM, and folded fields are unfolded', async () => {
  const w = await categoryWorld();
  const id = await w.send({ to: 'reader@example.net', subject: 'Spring sale', headers: LABEL_HEADERS });
  await w.settled(id);
  const got = w.mx.messages.find((m) => m.to.includes('reader@example.net'))!;
  const raw = got.body.toString('latin1');
  assert.doesNotMatch(raw, /x-mail-relay/i, 'no label field, in any case, anywhere in the delivered bytes');
  assert.doesNotMatch(raw, /spring sale 2026/, 'nor any metadata value');
  assert.match(raw, /^Subject: Spring sale\r$/m, 'the other fields are kept');
  const resolver = new Resolver();
  resolver.setServers([w.dns.server]);
  const verified = await dkimVerify(got.body, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') });
  assert.deepEqual(
    verified.results.map((r) => [String(r.signingDomain), String(r.status.result)]),
    [['example.com', 'pass']],
  );
  assert.equal(await w.metric(/^mailrelay_category_messages_total\{domain="example\.com",category="newsletter",outcome="delivered"\}/), 1);
});

test('the API fields and the SMTP header fields give the same stored category, tags and metadata; bad values are refused by both', async () => {
  const w = await categoryWorld();
  // deferred recipients keep the messages in the spool, where their records are read
  const bySmtp = await w.send({ to: 'slow1@example.net', headers: LABEL_HEADERS });
  const byApi = await w.api('/v1/messages', { ...message('slow2@example.net'), ...LABELS });
  assert.equal(byApi.status, 202, JSON.stringify(byApi.body));
  const stored = (id: string) => {
    const meta = w.h.relay.spool.get(id)!.meta;
    return { category: meta.category, tags: meta.tags, metadata: meta.metadata };
  };
  assert.deepEqual(stored(bySmtp), LABELS);
  assert.deepEqual(stored(byApi.body.id as string), LABELS);
  // and as read back from disk
  w.h = await w.h.restart();
  assert.deepEqual(stored(bySmtp), LABELS);
  assert.deepEqual(stored(byApi.body.id as string), LABELS);

  assert.match(
    await refusal(w.send({ to: 'x@example.net', headers: { 'X-Mail-Relay-Category': 'News Letter' } })),
    /^550 5\.6\.0 Invalid message labels: X-Mail-Relay-Category must be a category name/,
  );
  assert.match(await refusal(w.send({ to: 'x@example.net', headers: { 'X-Mail-Relay-Metadata': '{"a": ' } })), /^550 5\.6\.0 .*X-Mail-Relay-Metadata must be a JSON object/);
  const tooMany = Array.from({ length: 11 }, (_, i) => `t${i}`);
  const bad = await w.api('/v1/messages', { ...message('x@example.net'), tags: tooMany, metadata: { k: 'v'.repeat(257) } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, 'invalid_request');
  assert.deepEqual((bad.body.problems as Array<{ field: string }>).map((p) => p.field), ['tags', 'metadata.k']);
  const asHeader = await w.api('/v1/messages', { ...message('x@example.net'), headers: { 'X-Mail-Relay-Category': 'newsletter' } });
  assert.equal(asHeader.status, 400);
  assert.match(JSON.stringify(asHeader.body.problems), /use the request field instead/);
  assert.equal(await w.metric(/^mailrelay_messages_rejected_total\{listener="plain",reason="invalid_labels"\}/), 2);
});

test('undeclared categories and messages without one count as other; the stored category is the one submitted', async () => {
  const w = await categoryWorld();
  const held = await w.send({ to: 'slow@example.net', headers: { 'X-Mail-Relay-Category': 'promo' } });
  assert.equal(w.h.relay.spool.get(held)!.meta.category, 'promo');
  await w.settled(await w.send({ to: 'a@example.net', headers: { 'X-Mail-Relay-Category': 'promo' } }));
  await w.settled(await w.send({ to: 'b@example.net' }));
  await w.settled(await w.send({ to: 'c@example.net', headers: { 'X-Mail-Relay-Category': 'transactional' } }));
  const text = await (await fetch(w.h.metricsUrl)).text();
  assert.doesNotMatch(text, /category="promo"/, 'no label for an undeclared category');
  const metric = (category: string, outcome: string) =>
    w.metric(new RegExp(`^mailrelay_category_messages_total\\{domain="example\\.com",category="${category}",outcome="${outcome}"\\}`));
  assert.equal(await metric('other', 'delivered'), 2);
  assert.equal(await metric('other', 'sent'), 2);
  assert.ok((await metric('other', 'deferred')) >= 1, 'slow@ was deferred');
  assert.equal(await metric('transactional', 'delivered'), 1);
  assert.equal(await w.metric(/^mailrelay_category_window_messages\{domain="example\.com",category="other",outcome="delivered"\}/), 2);
  assert.equal(await w.metric(/^mailrelay_category_window_messages\{domain="example\.com",category="newsletter",outcome="delivered"\}/), 0, 'declared categories are exported before any mail');
  assert.equal(await w.metric(/^mailrelay_category_paused\{domain="example\.org",category="other"\}/), 0, 'a domain without categories has other');
  const report = await w.api('/v1/domains/example.com/reputation');
  const categories = report.body.categories as Record<string, { windows: { '24h': { delivered: number } }; thresholds: { maxBounceRate: number } }>;
  assert.deepEqual(Object.keys(categories), ['transactional', 'newsletter', 'other']);
  assert.equal(categories.other!.windows['24h'].delivered, 2);
  assert.equal(categories.newsletter!.thresholds.maxBounceRate, 0.25);
  assert.equal(categories.transactional!.thresholds.maxBounceRate, 0.1, "the domain's default");
});

test("real bounces pause the newsletter category only: its new mail is refused and its queued mail held, other categories flow; the pause survives a restart and resume lifts it", async () => {
  const slow = { defer: true };
  const w = await categoryWorld(slow);
  const news = { 'X-Mail-Relay-Category': 'newsletter' };
  const queued = await w.send({ to: 'slow@example.net', headers: news });
  for (const to of ['good1@example.net', 'good2@example.net', 'good3@example.net', 'bad1@example.net']) await w.settled(await w.send({ to, headers: news }));
  const NEWS_PAUSED = /^mailrelay_category_paused\{domain="example\.com",category="newsletter"\}/;
  assert.equal(await w.metric(NEWS_PAUSED), 0, '1 of 4: at the limit');
  await w.settled(await w.send({ to: 'bad2@example.net', headers: news }));
  assert.equal(await w.metric(NEWS_PAUSED), 1, '2 of 5 > 0.25');
  assert.equal(await w.metric(/^mailrelay_category_bounce_rate\{domain="example\.com",category="newsletter"\}/), 2 / 5);
  assert.equal(await w.metric(/^mailrelay_domain_paused\{domain="example\.com"\}/), 0, 'the domain is not paused');
  assert.equal(await w.metric(/^mailrelay_category_paused\{domain="example\.com",category="transactional"\}/), 0);

  assert.match(
    await refusal(w.send({ to: 'new@example.net', headers: news })),
    /^451 4\.7\.1 Category newsletter of sending domain example\.com is paused: bounce rate 0\.4 above 0\.25 \(2 hard bounces of 5 sent\)/,
  );
  const byApi = await w.api('/v1/messages', { ...message('new@example.net'), category: 'newsletter' });
  assert.equal(byApi.status, 423);
  assert.equal(byApi.body.error, 'domain_paused');
  // password resets and mail without a category still flow
  await w.settled(await w.send({ to: 'reset@example.net', headers: { 'X-Mail-Relay-Category': 'transactional' } }));
  await w.settled(await w.send({ to: 'plain@example.net' }));
  assert.ok(w.mx.messages.some((m) => m.to.includes('reset@example.net')) && w.mx.messages.some((m) => m.to.includes('plain@example.net')));
  await waitFor('the queued newsletter is held', async () => (await w.metric(/^mailrelay_queue_messages\{state="held"\}/)) === 1);

  w.h = await w.h.restart();
  assert.equal(await w.metric(NEWS_PAUSED), 1, 'the pause survives a restart');
  assert.match(await refusal(w.send({ to: 'new@example.net', headers: news })), /^451 4\.7\.1 Category newsletter/);
  await waitFor('held again after the restart', async () => (await w.metric(/^mailrelay_queue_messages\{state="held"\}/)) === 1);
  const report = await w.api('/v1/domains/example.com/reputation');
  const categories = report.body.categories as Record<string, { paused: { reason: string } | null; windows: { '24h': { sent: number; hardBounces: number } } }>;
  assert.match(categories.newsletter!.paused!.reason, /^bounce rate 0\.4 above 0\.25/);
  assert.deepEqual([categories.newsletter!.windows['24h'].sent, categories.newsletter!.windows['24h'].hardBounces], [5, 2], 'counters survive the restart');
  assert.equal(categories.transactional!.paused, null);

  slow.defer = false;
  assert.equal((await w.api('/v1/domains/example.com/categories/nosuch/resume')).status, 404);
  const resumed = await w.api('/v1/domains/example.com/categories/newsletter/resume');
  assert.deepEqual(resumed, { status: 200, body: { domain: 'example.com', category: 'newsletter', resumed: true, paused: false } });
  assert.equal(await w.metric(NEWS_PAUSED), 0);
  await waitFor('the held newsletter is delivered', () => w.mx.messages.some((m) => m.to.includes('slow@example.net')));
  await w.settled(queued);
  await w.settled(await w.send({ to: 'after@example.net', headers: news }));
  assert.equal(await w.metric(NEWS_PAUSED), 0, 'breaches are judged afresh after a resume');
});

test('a complaint counts in the category of the message complained about', async () => {
  const w = await categoryWorld();
  await w.settled(await w.send({ to: 'reader@yahoo.com', headers: { 'X-Mail-Relay-Category': 'newsletter' } }));
  const returnPath = w.mx.messages.find((m) => m.to.includes('reader@yahoo.com'))!.from;
  const replies = await w.sendRaw(
    'feedback@arf.mail.yahoo.com',
    ['fbl@example.com'],
    arfReport({ to: 'fbl@example.com', originalMailFrom: returnPath, originalRcptTo: 'reader@yahoo.com', returnPath, originalTo: 'reader@yahoo.com' }),
  );
  assert.equal(replies.at(-1), '250 2.0.0 Ok: report received');
  assert.equal(await w.metric(/^mailrelay_category_messages_total\{domain="example\.com",category="newsletter",outcome="complained"\}/), 1);
  assert.equal(await w.metric(/^mailrelay_category_complaint_rate\{domain="example\.com",category="newsletter"\}/), 1);
  assert.equal(await w.metric(/^mailrelay_category_messages_total\{domain="example\.com",category="other",outcome="complained"\}/), 0);
});

test("resuming the domain lifts its categories' pauses too", async () => {
  const w = await categoryWorld();
  const news = { 'X-Mail-Relay-Category': 'newsletter' };
  for (const to of ['bad1@example.net', 'bad2@example.net', 'bad3@example.net', 'bad4@example.net']) await w.settled(await w.send({ to, headers: news }));
  const NEWS_PAUSED = /^mailrelay_category_paused\{domain="example\.com",category="newsletter"\}/;
  assert.equal(await w.metric(NEWS_PAUSED), 1);
  assert.equal(await w.metric(/^mailrelay_domain_paused\{domain="example\.com"\}/), 0, '4 sent: below the domain minVolume of 100');
  const resumed = await w.api('/v1/domains/example.com/resume');
  assert.deepEqual(resumed, { status: 200, body: { domain: 'example.com', resumed: true, paused: false } });
  assert.equal(await w.metric(NEWS_PAUSED), 0);
  await w.settled(await w.send({ to: 'good@example.net', headers: news }));
});
