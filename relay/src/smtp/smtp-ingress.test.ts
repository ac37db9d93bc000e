import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { copyFileSync } from 'node:fs';
import nodemailer from 'nodemailer';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { RawSmtp } from '../../../test/helpers/raw-smtp.ts';
import { makeCertificates } from '../../../test/helpers/certs.ts';
import { scrapeSum } from '../../../test/helpers/scrape.ts';

const USER = { username: 'app1', password: 'correct horse battery staple', allowedSenderDomains: ['example.com'] };

async function bodyOf(h: Harness, id: string): Promise<string> {
  const entry = h.relay.spool.get(id);
  assert.ok(entry, `message ${id} is in the spool`);
  return (await h.relay.spool.readBody(entry)).toString('latin1');
}

function queueIdOf(response: string): string {
  const match = /^250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})$/.exec(response.trim());
  assert.ok(match, `unexpected final reply: ${response}`);
  return match[1]!;
}

function metric(h: Harness, line: RegExp): Promise<number> {
  return scrapeSum(h.metricsUrl, line);
}

function transport(h: Harness, listener: string, extra: Record<string, unknown> = {}) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: h.port(listener),
    secure: listener === 'smtps',
    tls: { ca: h.certs.ca, servername: 'localhost' },
    ...extra,
  } as Parameters<typeof nodemailer.createTransport>[0]);
}

const message = { from: 'app@example.com', to: 'user@example.net', subject: 'hello', text: 'hello world' };

test('a client in trustedNetworks relays over the plain listener and gets the queue id', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.0/8'] } });
  const info = await transport(h, 'plain', { ignoreTLS: true }).sendMail(message);
  const id = queueIdOf(info.response);
  const body = await bodyOf(h, id);
  assert.match(body, /^Received: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test \(mail-relay\)\r\n\twith ESMTP id [0-9A-Z]{16}\r\n\tfor <user@example\.net>;/);
  assert.equal(body.match(/^Message-ID:/gim)?.length, 1, 'nodemailer sets Message-ID; the relay does not add a second');
  assert.match(body, /\r\n\r\nhello world/);
  assert.equal(await metric(h, /^mailrelay_messages_received_total\{listener="plain"\}/), 1);
  assert.equal(await metric(h, /^mailrelay_queue_messages\{/), 1, 'one message queued (ready, or deferred after a first attempt)');
});

test('refuses RCPT from untrusted unauthenticated clients with 550 5.7.1', async () => {
  const h = await startRelay();
  const c = await RawSmtp.connect(h.port('plain'));
  assert.match(await c.command('EHLO client.test'), /^250/);
  assert.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  assert.equal(await c.command('RCPT TO:<user@example.net>'), '550 5.7.1 Relay access denied: authenticate or send from a trusted network');
  assert.match(await c.command('DATA'), /^503/);
  c.close();
  assert.equal(await metric(h, /^mailrelay_messages_rejected_total\{listener="plain",reason="relay_denied"\}/), 1);
});

test('trusted networks do not bypass AUTH on an auth: required listener', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.1/32'] }, users: [USER] });
  const c = await RawSmtp.connect(h.port('submission'));
  await c.command('EHLO client.test');
  await c.startTls(h.certs.ca);
  await c.command('EHLO client.test');
  assert.match(await c.command('MAIL FROM:<app@example.com>'), /^530 5\.7\.0/);
  c.close();
});

test('AUTH is offered only after STARTTLS, and PLAIN then works', async () => {
  const h = await startRelay({ users: [USER] });
  const c = await RawSmtp.connect(h.port('submission'));
  const ehlo = await c.command('EHLO client.test');
  assert.doesNotMatch(ehlo, /AUTH/);
  assert.match(ehlo, /STARTTLS/);
  assert.match(ehlo, /PIPELINING/);
  assert.match(ehlo, /8BITMIME/);
  assert.match(ehlo, /SMTPUTF8/);
  assert.match(ehlo, /ENHANCEDSTATUSCODES/);
  assert.match(ehlo, /SIZE 26214400/);
  assert.match(await c.command(`AUTH PLAIN ${Buffer.from(`\0app1\0${USER.password}`).toString('base64')}`), /^5\d\d/);
  await c.startTls(h.certs.ca);
  assert.match(await c.command('EHLO client.test'), /AUTH PLAIN LOGIN/);
  assert.match(await c.command(`AUTH PLAIN ${Buffer.from(`\0app1\0${USER.password}`).toString('base64')}`), /^235/);
  assert.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  assert.match(await c.command('RCPT TO:<user@example.net>'), /^250/);
  assert.match(await c.command('DATA'), /^354/);
  const id = queueIdOf(await c.command('From: app@example.com\r\nSubject: raw\r\n\r\nbody\r\n.'));
  c.close();
  const body = await bodyOf(h, id);
  assert.match(body, /with ESMTPSA id/);
  assert.match(body, /version=TLSv1\.3/);
  assert.match(body, /^Message-ID: <[0-9a-z]{16}@relay\.test>\r$/m, 'missing Message-ID added on submission');
  assert.match(body, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r$/m, 'missing Date added on submission');
  assert.equal(h.relay.spool.get(id)!.meta.origin.user, 'app1');
});

test('nodemailer delivers over STARTTLS, implicit TLS and AUTH LOGIN', async () => {
  const h = await startRelay({ users: [USER] });
  const auth = { user: USER.username, pass: USER.password };
  const viaSubmission = await transport(h, 'submission', { auth, requireTLS: true }).sendMail(message);
  const viaSmtps = await transport(h, 'smtps', { auth, authMethod: 'LOGIN' }).sendMail(message);
  const viaRelay = await transport(h, 'relay', { auth, requireTLS: true }).sendMail(message);
  for (const info of [viaSubmission, viaSmtps, viaRelay]) queueIdOf(info.response);
  assert.equal(h.relay.spool.size, 3);
  assert.ok((await metric(h, /^mailrelay_tls_sessions_total\{direction="inbound",version="TLSv1.3"\}/)) >= 3);
});

test('wrong passwords get 535 5.7.8, are counted and slowed down', async () => {
  const h = await startRelay({ users: [USER] });
  const c = await RawSmtp.connect(h.port('smtps'), { implicitTls: true, ca: h.certs.ca });
  await c.command('EHLO client.test');
  const timings: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = Date.now();
    assert.equal(await c.command(`AUTH PLAIN ${Buffer.from('\0app1\0wrong').toString('base64')}`), '535 5.7.8 Authentication credentials invalid');
    timings.push(Date.now() - start);
  }
  assert.match(await c.command(`AUTH PLAIN ${Buffer.from('\0nobody\0wrong').toString('base64')}`), /^535 5\.7\.8/);
  c.close();
  // the harness uses a 20 ms base delay: the third failure waits at least 80 ms
  assert.ok(timings[2]! >= 75, `third failure delayed: ${timings.join(',')}`);
  assert.equal(await metric(h, /^mailrelay_auth_failures_total\{listener="smtps"\}/), 4);
});

test('invalid base64 in AUTH is answered, not fatal', async () => {
  const h = await startRelay({ users: [USER] });
  const c = await RawSmtp.connect(h.port('smtps'), { implicitTls: true, ca: h.certs.ca });
  await c.command('EHLO client.test');
  assert.match(await c.command('AUTH PLAIN %%%not-base64%%%'), /^5\d\d/);
  assert.match(await c.command('AUTH LOGIN'), /^334/);
  assert.match(await c.command('***'), /^5\d\d/);
  assert.match(await c.command('NOOP'), /^250/);
  c.close();
});

test('MAIL FROM outside the configured sending domains gets 550 5.7.1', async () => {
  const h = await startRelay({
    config: { trustedNetworks: ['127.0.0.0/8'], domains: [{ name: 'example.com' }, { name: 'other.org' }] },
    users: [USER],
  });
  const c = await RawSmtp.connect(h.port('plain'));
  await c.command('EHLO client.test');
  assert.equal(await c.command('MAIL FROM:<x@evil.test>'), '550 5.7.1 Sender domain evil.test is not a sending domain of this relay');
  assert.match(await c.command('MAIL FROM:<x@mail.example.com>'), /^250/, 'subdomains of a sending domain are allowed');
  c.close();
  // app1 may use example.com only, even though other.org is a sending domain
  const auth = { user: USER.username, pass: USER.password };
  await assert.rejects(transport(h, 'smtps', { auth }).sendMail({ ...message, from: 'x@other.org' }), (err: { response?: string }) => {
    assert.equal(err.response, '550 5.7.1 User may not send as other.org');
    return true;
  });
});

test('oversize messages get 552 5.3.4 and nothing is queued', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.0/8'], limits: { maxMessageSize: '10Ki' } } });
  const c = await RawSmtp.connect(h.port('plain'));
  assert.match(await c.command('EHLO client.test'), /SIZE 10240/);
  assert.match(await c.command('MAIL FROM:<a@example.com> SIZE=20000'), /^552 5\.3\.4/);
  assert.match(await c.command('MAIL FROM:<a@example.com>'), /^250/);
  assert.match(await c.command('RCPT TO:<b@example.net>'), /^250/);
  assert.match(await c.command('DATA'), /^354/);
  c.write(`Subject: big\r\n\r\n${'x'.repeat(78)}\r\n`.repeat(300));
  assert.match(await c.command('.'), /^552 5\.3\.4/);
  assert.match(await c.command('NOOP'), /^250/, 'the session goes on');
  c.close();
  assert.equal(h.relay.spool.size, 0);
});

test('too many recipients get 452 4.5.3', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.0/8'], limits: { maxRecipients: 2 } } });
  const c = await RawSmtp.connect(h.port('plain'));
  await c.command('EHLO client.test');
  await c.command('MAIL FROM:<a@example.com>');
  assert.match(await c.command('RCPT TO:<1@example.net>'), /^250/);
  assert.match(await c.command('RCPT TO:<2@example.net>'), /^250/);
  assert.match(await c.command('RCPT TO:<3@example.net>'), /^452 4\.5\.3/);
  c.close();
});

test('commands out of order, overlong lines, bare LF and NUL bytes are answered and survived', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.0/8'], limits: { maxLineLength: 1024 } } });
  const c = await RawSmtp.connect(h.port('plain'));
  assert.match(await c.command('DATA'), /^503/);
  assert.match(await c.command('RCPT TO:<x@example.net>'), /^503/);
  await c.command('EHLO client.test');
  assert.match(await c.command('MAIL FROM:<a@example.com>'), /^250/);
  assert.match(await c.command('MAIL FROM:<a@example.com>'), /^503/, 'nested MAIL');
  assert.match(await c.command('RCPT TO:<nodomain>'), /^5\d\d/);
  assert.match(await c.command('FROB'), /^500/);
  c.close();

  const long = await RawSmtp.connect(h.port('plain'));
  long.write(`EHLO ${'a'.repeat(5000)}\r\n`);
  assert.match(await long.reply(), /^421 4\.4\.2 Error: Command line too long|^5\d\d/);
  long.close();

  const bare = await RawSmtp.connect(h.port('plain'));
  await bare.command('EHLO client.test');
  await bare.command('MAIL FROM:<a@example.com>');
  await bare.command('RCPT TO:<b@example.net>');
  await bare.command('DATA');
  const id = queueIdOf(await bare.command('Subject: lf\nX-Test: 1\n\nline one\nline two\r\n.'));
  const body = await bodyOf(h, id);
  assert.match(body, /Subject: lf\r\nX-Test: 1\r\n\r\nline one\r\nline two\r\n$/);
  assert.doesNotMatch(body, /[^\r]\n/, 'no bare LF is stored');

  await bare.command('MAIL FROM:<a@example.com>');
  await bare.command('RCPT TO:<b@example.net>');
  await bare.command('DATA');
  assert.equal(await bare.command('Subject: nul\r\n\r\nbad\0byte\r\n.'), '554 5.6.0 Message contains NUL bytes');
  assert.match(await bare.command('QUIT'), /^221/);
  bare.close();
  assert.equal(h.relay.spool.size, 1);
});

test('a client that disconnects mid-DATA leaves nothing behind', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.0/8'] } });
  const c = await RawSmtp.connect(h.port('plain'));
  await c.command('EHLO client.test');
  await c.command('MAIL FROM:<a@example.com>');
  await c.command('RCPT TO:<b@example.net>');
  await c.command('DATA');
  c.write(`Subject: cut\r\n\r\n${'y'.repeat(400_000)}`);
  await new Promise((r) => setTimeout(r, 100));
  c.close();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(h.relay.spool.size, 0);
  const { readdir } = await import('node:fs/promises');
  assert.deepEqual(await readdir(`${h.dir}/spool/large`), [], 'a spilled partial body is removed');
  const again = await RawSmtp.connect(h.port('plain'));
  assert.match(await again.command('NOOP'), /^250/);
  again.close();
});

test('connections beyond maxConnections get 421', async () => {
  const h = await startRelay({ config: { limits: { maxConnections: 2 } } });
  const a = await RawSmtp.connect(h.port('plain'));
  const b = await RawSmtp.connect(h.port('plain'));
  const { connect } = await import('node:net');
  const third = connect({ port: h.port('plain'), host: '127.0.0.1' });
  const greeting = await new Promise<string>((resolve) => third.once('data', (d) => resolve(d.toString())));
  assert.match(greeting, /^421 4\.7\.0 Too many connections/);
  third.destroy();
  a.close();
  b.close();
});

test('a renewed certificate is served to new sessions without a restart', async () => {
  const h = await startRelay();
  const subject = () =>
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ port: h.port('smtps'), host: '127.0.0.1', ca: h.certs.ca, servername: 'localhost' }, () => {
        resolve(String(s.getPeerCertificate().subject.CN));
        s.destroy();
      });
      s.once('error', reject);
    });
  assert.equal(await subject(), 'localhost');
  const renewed = makeCertificates(h.dir, 'renewed');
  copyFileSync(renewed.keyFile, h.certs.keyFile);
  copyFileSync(renewed.certFile, h.certs.certFile);
  let seen = '';
  for (let i = 0; i < 40 && seen !== 'renewed'; i++) {
    await new Promise((r) => setTimeout(r, 50));
    seen = await subject();
  }
  assert.equal(seen, 'renewed');
});
