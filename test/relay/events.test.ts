import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { OPENAPI } from '../../relay/src/api/openapi.ts';
import { arfReport } from '../helpers/feedback-reports.ts';
import { validate } from '../helpers/json-schema.ts';
import { startRelay } from '../helpers/relay-harness.ts';
import { reputationWorld, TRUSTED_SOURCE } from '../helpers/reputation-world.ts';
import { scrapeSum } from '../helpers/scrape.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { startWebhookReceiver, type ReceivedEvent } from '../helpers/webhook-receiver.ts';

const root = OPENAPI as unknown as { components: { schemas: Record<string, unknown> } };

function secretFile(dir: string, text: string): string {
  const path = join(dir, `secret-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, text);
  return path;
}

const byRecipient = (events: ReceivedEvent[], recipient: string, type?: string) => events.filter((e) => e.recipient === recipient && (type === undefined || e.type === type));

test('a real run produces every kind, in the documented shapes, signed, and each domain webhook gets only its own domain', async () => {
  const dir = await tempDir();
  const receiver = await startWebhookReceiver(['k1']);
  const secret = secretFile(dir, 'k1\n');
  const tries = new Map<string, number>();
  const w = await reputationWorld({
    mx: {
      onRcpt: (address) => {
        const n = (tries.get(address) ?? 0) + 1;
        tries.set(address, n);
        if (address.startsWith('bad@')) return { code: 550, text: '5.1.1 no such user' };
        if (address.startsWith('later@') && n <= 3) return { code: 451, text: '4.2.0 greylisted' };
        if (address.startsWith('never@')) return { code: 451, text: '4.7.1 try later' };
        return undefined;
      },
    },
    config: {
      feedback: { verpDomain: 'bounces.example.com', complaintAddress: 'fbl@example.com' },
      queue: { dir: join(dir, 'spool'), retrySchedule: ['200ms'], maxAge: '4s' },
      webhooks: [{ name: 'all', url: receiver.url('/all'), secretFile: secret }],
      events: { maxRetryDelay: '200ms' },
      domains: [
        {
          name: 'example.com',
          webhooks: [{ name: 'com', url: receiver.url('/com'), secretFile: secret, deferrals: 'first-and-last', batch: { maxEvents: 50, maxDelay: '100ms' } }],
        },
        { name: 'example.org', webhooks: [{ name: 'org', url: receiver.url('/org'), secretFile: secret }] },
      ],
    },
  });
  const first = await w.send({ to: ['ok@example.net', 'bad@example.net'] });
  const later = await w.send({ to: 'later@example.net' });
  const never = await w.send({ from: 'news@example.org', to: 'never@example.net' });
  await Promise.all([w.settled(first), w.settled(later)]);
  // suppressed after the hard bounce (written behind the delivery)
  await waitFor('bad@ suppressed', () => w.h.relay.reputation.isSuppressed('example.com', 'bad@example.net'));
  await assert.rejects(w.send({ to: 'bad@example.net' }), /suppressed/);
  await assert.rejects(w.send({ from: 'someone@nowhere.test', to: 'x@example.net' }), /not a sending domain/);
  const verp = w.mx.messages.find((m) => m.to.includes('ok@example.net'))!.from;
  await w.sendRaw('feedback@arf.mail.yahoo.com', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', returnPath: verp, originalTo: 'ok@example.net' }));
  await w.settled(never);

  const all = () => receiver.events('/all');
  await waitFor('every kind at the relay webhook', () => {
    const types = new Set(all().map((e) => e.type));
    return ['accepted', 'delivered', 'deferred', 'bounced', 'expired', 'complained', 'suppressed', 'rejected'].every((t) => types.has(t));
  });
  await waitFor('the DSNs delivered', () => all().filter((e) => e.type === 'delivered' && e.domain === null).length === 2);
  await waitFor('the domain webhooks caught up', () => receiver.events('/com').some((e) => e.type === 'complained'));

  assert.equal(receiver.forged.length, 0);
  for (const event of [...all(), ...receiver.events('/com'), ...receiver.events('/org')]) {
    assert.deepEqual(validate(event, { $ref: '#/components/schemas/Event' }, root), [], JSON.stringify(event));
  }
  for (const request of receiver.requests.filter((r) => r.path === '/com')) {
    assert.deepEqual(validate(request.body, { $ref: '#/components/schemas/EventBatch' }, root), [], 'a batched webhook gets arrays');
  }
  for (const request of receiver.requests.filter((r) => r.path !== '/com')) assert.ok(!Array.isArray(request.body), 'one event per request without batch');

  const accepted = byRecipient(all(), 'ok@example.net', 'accepted')[0]!;
  assert.equal(accepted.queueId, first);
  assert.equal(accepted.domain, 'example.com');
  assert.deepEqual(accepted.submitter, { kind: 'trusted', name: null, listener: 'plain', clientAddress: TRUSTED_SOURCE });
  assert.match(String(accepted.messageId), /^<.+>$/);
  const delivered = byRecipient(all(), 'ok@example.net', 'delivered')[0]!;
  assert.equal(delivered.messageId, accepted.messageId, 'the message id is the same in every event of a message');
  assert.equal(delivered.attempt, 1);
  assert.match(String(delivered.reply), /^250/);
  const bounced = byRecipient(all(), 'bad@example.net', 'bounced')[0]!;
  assert.deepEqual([bounced.bounceType, bounced.status, bounced.dsnSent, bounced.source], ['hard', '5.1.1', true, 'delivery']);
  assert.match(String(bounced.diagnostic), /no such user/);
  assert.equal(byRecipient(all(), 'bad@example.net', 'suppressed')[0]!.domain, 'example.com');
  const expired = byRecipient(all(), 'never@example.net', 'expired')[0]!;
  assert.equal(expired.domain, 'example.org');
  assert.equal(expired.dsnSent, true);
  const complained = all().find((e) => e.type === 'complained')!;
  assert.deepEqual([complained.domain, complained.recipient, complained.queueId, complained.feedbackType], ['example.com', 'ok@example.net', first, 'abuse']);
  const rejected = all().find((e) => e.type === 'rejected')!;
  assert.deepEqual([rejected.domain, rejected.reason, rejected.sender], [null, 'sender_domain', 'someone@nowhere.test']);

  // deferred: every attempt at the `every` webhook; first and last at the first-and-last one, same ids
  const deferredAll = byRecipient(all(), 'later@example.net', 'deferred');
  assert.deepEqual(deferredAll.map((e) => e.attempt), [1, 2, 3]);
  const deferredCom = byRecipient(receiver.events('/com'), 'later@example.net', 'deferred');
  assert.deepEqual(deferredCom.map((e) => e.attempt), [1, 3]);
  assert.deepEqual(deferredCom.map((e) => e.id), [deferredAll[0]!.id, deferredAll[2]!.id]);
  assert.ok(Date.parse(String(deferredAll[0]!.nextAttemptAt)) > Date.parse(String(deferredAll[0]!.time)));
  assert.equal(byRecipient(receiver.events('/com'), 'later@example.net', 'delivered')[0]!.attempt, 4);

  // tenant isolation: a domain's webhook gets its own domain's events and nothing else
  assert.ok(receiver.events('/com').length > 0 && receiver.events('/org').length > 0);
  for (const e of receiver.events('/com')) assert.equal(e.domain, 'example.com', JSON.stringify(e));
  for (const e of receiver.events('/org')) assert.equal(e.domain, 'example.org', JSON.stringify(e));
  assert.ok(all().some((e) => e.domain === null), 'events of no domain (DSNs, the refused sender) reach the relay webhook only');

  assert.equal(await w.metric(/^mailrelay_webhook_events_total\{scope="example\.com",webhook="com",result="delivered"\}/), receiver.events('/com').length);
  assert.ok((await w.metric(/^mailrelay_events_total\{type="accepted"\}/)) >= 4);
  await waitFor('no backlog', async () => (await w.metric(/^mailrelay_webhook_backlog_events\{/)) === 0);
});

test('5xx and refused connections are retried, other 4xx dropped and counted; both keys sign while a secret rotates', async () => {
  const dir = await tempDir();
  // the receiver knows only the next key: the second v1 signature is the one it checks
  const receiver = await startWebhookReceiver(['next-key']);
  const h = await startRelay({
    dir,
    config: {
      trustedNetworks: ['127.0.0.1/32'],
      domains: [{ name: 'example.com' }],
      webhooks: [{ name: 'hook', url: receiver.url(), secretFile: secretFile(dir, 'current-key\nnext-key\n'), events: ['accepted'] }],
      events: { maxRetryDelay: '100ms' },
    },
  });
  const send = (to: string) =>
    nodemailer.createTransport({ host: '127.0.0.1', port: h.port('plain'), ignoreTLS: true }).sendMail({ from: 'app@example.com', to, subject: 's', text: 't' });
  let failing = 3;
  receiver.respond = () => (failing-- > 0 ? 503 : 200);
  await send('a@example.net');
  await waitFor('delivered after 503s', () => receiver.events().length === 1);
  const metric = (result: string) => scrapeSum(h.metricsUrl, new RegExp(`^mailrelay_webhook_events_total\\{scope="relay",webhook="hook",result="${result}"\\}`));
  assert.equal(await metric('retried'), 3);
  assert.equal(await metric('delivered'), 1);

  receiver.respond = (r) => ((r.body as ReceivedEvent).recipient === 'gone@example.net' ? 410 : 200);
  await send('gone@example.net');
  await send('b@example.net');
  await waitFor('the next event after a dropped one', () => receiver.events().some((e) => e.recipient === 'b@example.net'));
  assert.equal(await metric('rejected'), 1);
  assert.ok(!receiver.events().some((e) => e.recipient === 'gone@example.net'));

  await receiver.down();
  await send('c@example.net');
  await waitFor('a refused connection retried', async () => (await metric('retried')) > 3);
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_webhook_backlog_events\{scope="relay",webhook="hook"\}/), 1);
  await receiver.up();
  await waitFor('delivered once the receiver is back', () => receiver.events().some((e) => e.recipient === 'c@example.net'));
});
