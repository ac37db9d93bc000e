import { test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import type { Harness } from '../helpers/relay-harness.ts';
import { RawSmtp } from '../helpers/raw-smtp.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { scrapeSum } from '../helpers/scrape.ts';
import { ALICE, TOKEN, signatures, world } from './tenant-world.ts';

function alice(h: Harness) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: h.port('submission'),
    tls: { ca: h.certs.ca, servername: 'localhost' },
    auth: { user: ALICE.username, pass: ALICE.password },
  });
}

async function refusal(send: Promise<unknown>): Promise<string> {
  try {
    await send;
  } catch (err) {
    return String((err as { response?: string }).response);
  }
  return 'accepted';
}

function postRaw(h: Harness, message: string, from = 'alice@example.test') {
  return fetch(`${h.apiUrl}/v1/messages/raw`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ from, to: ['rcpt@example.net'], message }),
  });
}

test("refuses a From: or Sender: of another tenant's domain with 550 5.7.1 over SMTP AUTH and 403 over HTTP; nothing signed d=other.test leaves", async () => {
  const w = await world();
  const { h } = w;
  const smtp = alice(h);
  const envelope = { from: 'alice@example.test', to: 'rcpt@example.net' };
  const spoofed = await refusal(smtp.sendMail({ envelope, from: 'ceo@other.test', subject: 'spoofed', text: 'pay now' }));
  assert.match(spoofed, /^550 5\.7\.1 From: domain other\.test is not one this sender may use/);
  const viaSender = await refusal(smtp.sendMail({ envelope, from: 'alice@example.test', sender: 'ceo@other.test', subject: 'sender', text: 'x' }));
  assert.match(viaSender, /^550 5\.7\.1 Sender: domain other\.test/);
  const twoFrom = await refusal(smtp.sendMail({ envelope, raw: 'From: alice@example.test\r\nFrom: ceo@other.test\r\nSubject: two\r\n\r\nx\r\n' }));
  assert.match(twoFrom, /^550 5\.6\.0 Message has 2 From: headers; exactly one is allowed/);
  const listed = await refusal(smtp.sendMail({ envelope, raw: 'From: alice@example.test, ceo@other.test\r\nSender: alice@example.test\r\nSubject: list\r\n\r\nx\r\n' }));
  assert.match(listed, /^550 5\.7\.1 From: domain other\.test/);
  const noFrom = await refusal(smtp.sendMail({ envelope, raw: 'Subject: none\r\n\r\nx\r\n' }));
  assert.match(noFrom, /^550 5\.6\.0 Message has no From: header/);

  const raw = await postRaw(h, 'From: ceo@other.test\r\nSubject: spoofed raw\r\n\r\npay now\r\n');
  assert.equal(raw.status, 403);
  assert.equal(((await raw.json()) as { error: string }).error, 'sender_not_allowed');
  const rawTwo = await postRaw(h, 'From: alice@example.test\r\nFrom: ceo@other.test\r\nSubject: two raw\r\n\r\nx\r\n');
  assert.equal(rawTwo.status, 400);
  assert.equal(((await rawTwo.json()) as { error: string }).error, 'invalid_message');
  const json = await fetch(`${h.apiUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ from: 'ceo@other.test', to: 'rcpt@example.net', subject: 'spoofed json', text: 'x' }),
  });
  assert.equal(json.status, 403);

  // what alice may send goes out, signed for her domain only
  await smtp.sendMail({ envelope, from: '"Alice" <alice@example.test>', subject: 'legit smtp', text: 'hello' });
  assert.equal((await postRaw(h, 'From: alice@news.example.test\r\nSubject: legit raw\r\n\r\nhello\r\n')).status, 202);
  await waitFor('two deliveries', () => w.sink.messages.length === 2 && h.relay.spool.size === 0);
  const signed = await signatures(w);
  assert.deepEqual(
    signed.map((s) => `${s.subject} ${s.domain} ${s.result}`).sort(),
    ['legit raw example.test pass', 'legit smtp example.test pass'],
  );
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_messages_rejected_total\{listener="submission",reason="header_sender_domain"\}/), 3);
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_messages_rejected_total\{listener="http",reason="header_sender_domain"\}/), 1);
});

test('a trusted-network client may use every configured sending domain in From:, and no other', async () => {
  const w = await world();
  const c = await RawSmtp.connect(w.h.port('plain'));
  await c.command('EHLO app.test');
  const send = async (from: string) => {
    assert.match(await c.command('MAIL FROM:<app@example.test>'), /^250/);
    assert.match(await c.command('RCPT TO:<rcpt@example.net>'), /^250/);
    assert.match(await c.command('DATA'), /^354/);
    return c.command(`From: ${from}\r\nSubject: ${from}\r\n\r\nbody\r\n.`);
  };
  assert.match(await send('ceo@elsewhere.test'), /^550 5\.7\.1 From: domain elsewhere\.test is not one this sender may use/);
  assert.match(await send('ceo@other.test'), /^250 /);
  c.close();
  await waitFor('delivery', () => w.sink.messages.length === 1 && w.h.relay.spool.size === 0);
  assert.deepEqual(await signatures(w), [{ subject: 'ceo@other.test', domain: 'other.test', result: 'pass' }]);
});

test("a queued message is signed only for the domain recorded at acceptance, never for its From: domain's key (a spool record from before that field)", async () => {
  const w = await world();
  const { spool } = w.h.relay;
  const incoming = spool.newMessage('0000000000000001');
  await incoming.write(Buffer.from('From: ceo@other.test\r\nSubject: legacy\r\n\r\nqueued before the upgrade\r\n'));
  // what a relay without the From: rule wrote for alice's MAIL FROM <alice@example.test>
  await spool.commit(incoming, {
    from: 'alice@example.test',
    recipients: [{ address: 'rcpt@example.net', status: 'pending' }],
    createdAt: Date.now(),
    attempts: 0,
    nextAttemptAt: Date.now(),
    sendingDomain: 'example.test',
    headerFromDomain: 'other.test',
    origin: { listener: 'submission', clientAddress: '127.0.0.1', user: 'alice' },
  });
  await waitFor('delivery', () => w.sink.messages.length === 1 && spool.size === 0);
  assert.doesNotMatch(w.sink.messages[0]!.body.toString('latin1'), /DKIM-Signature/, 'not signed with other.test');
});

test("refuses a Resent-From: or Resent-Sender: of another tenant's domain with 550 5.7.1 over SMTP AUTH and 403 over HTTP raw, and relays one of the sender's own domain", async () => {
  const w = await world();
  const { h } = w;
  const smtp = alice(h);
  const envelope = { from: 'alice@example.test', to: 'rcpt@example.net' };
  const resentFrom = await refusal(smtp.sendMail({ envelope, raw: 'From: alice@example.test\r\nResent-From: ceo@other.test\r\nSubject: resent\r\n\r\nx\r\n' }));
  assert.match(resentFrom, /^550 5\.7\.1 Resent-From: domain other\.test is not one this sender may use/);
  const folded = 'From: alice@example.test\r\nResent-Date: Fri, 4 Dec 2026 10:00:00 +0000\r\nresent-sender :\r\n "Boss"\r\n <ceo@other.test>\r\nSubject: resent sender\r\n\r\nx\r\n';
  assert.match(await refusal(smtp.sendMail({ envelope, raw: folded })), /^550 5\.7\.1 Resent-Sender: domain other\.test/);
  const raw = await postRaw(h, 'From: alice@example.test\r\nResent-From: ceo@other.test\r\nSubject: resent raw\r\n\r\nx\r\n');
  assert.equal(raw.status, 403);
  assert.equal(((await raw.json()) as { error: string }).error, 'sender_not_allowed');

  await smtp.sendMail({ envelope, raw: 'From: alice@example.test\r\nResent-From: alice@news.example.test\r\nSubject: own resent\r\n\r\nx\r\n' });
  await waitFor('one delivery', () => w.sink.messages.length === 1 && h.relay.spool.size === 0);
  assert.deepEqual((await signatures(w)).map((s) => `${s.subject} ${s.domain} ${s.result}`), ['own resent example.test pass']);
});

test('refuses a header field whose name has a control, 8-bit or blank character (From<VT>:) or a folded line that continues no field, which mailauth reads as From:, with 554 5.6.0 over SMTP and 400 over HTTP raw', async () => {
  const w = await world();
  const { h } = w;
  const smtp = alice(h);
  const envelope = { from: 'alice@example.test', to: 'rcpt@example.net' };
  for (const name of ['From\v', 'From\f', 'From\xa0', 'X Pad', 'Fr\xf6m']) {
    const raw = Buffer.from(`From: alice@example.test\r\nSubject: odd\r\n${name}: ceo@other.test\r\n\r\nx\r\n`, 'latin1');
    assert.match(await refusal(smtp.sendMail({ envelope, raw })), /^554 5\.6\.0 Message has a malformed header field/, JSON.stringify(name));
  }
  // folded lines that continue no field: mailauth reads both as From: ceo@other.test
  for (const raw of [' From: ceo@other.test\r\nFrom: alice@example.test\r\n\r\nx\r\n', 'From: alice@example.test\r\nFrom\r\n : ceo@other.test\r\n\r\nx\r\n']) {
    assert.match(await refusal(smtp.sendMail({ envelope, raw })), /^554 5\.6\.0 Message has a malformed header field/, JSON.stringify(raw));
  }
  const raw = await postRaw(h, 'From: alice@example.test\r\nFrom\v: ceo@other.test\r\nSubject: odd raw\r\n\r\nx\r\n');
  assert.equal(raw.status, 400);
  assert.equal(((await raw.json()) as { error: string }).error, 'invalid_message');
  // blanks before the colon are obsolete syntax, not part of the name (RFC 5322 4.5.3)
  await smtp.sendMail({ envelope, raw: 'From \t: alice@example.test\r\nSubject : obs\r\n\r\nx\r\n' });
  await waitFor('one delivery', () => w.sink.messages.length === 1 && h.relay.spool.size === 0);
  assert.match(w.sink.messages[0]!.body.toString('latin1'), /\r\nSubject : obs\r\n/);
});
