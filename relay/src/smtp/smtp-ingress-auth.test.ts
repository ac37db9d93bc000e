import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import nodemailer from 'nodemailer';
import winston from 'winston';
import { startRelay } from '../../../test/helpers/relay-harness.ts';
import { RawSmtp } from '../../../test/helpers/raw-smtp.ts';
import { scrapeSum } from '../../../test/helpers/scrape.ts';
import { testLogger } from '../../../test/helpers/logger.ts';

const USER = { username: 'app1', password: 'correct horse battery staple', allowedSenderDomains: ['example.com'] };
const plainToken = (authzid: string, authcid: string, password: string) => Buffer.from(`${authzid}\0${authcid}\0${password}`).toString('base64');
const ENCRYPTION_REQUIRED = '538 5.7.11 Encryption required for requested authentication mechanism';

/** The default listeners plus `clear`: no TLS, AUTH optional (a configuration the relay accepts). */
const withClearListener = {
  listeners: [
    { name: 'clear', address: '127.0.0.1', port: 0, tls: 'none', auth: 'optional' },
    { name: 'submission', address: '127.0.0.1', port: 0, tls: 'starttls', auth: 'required' },
    { name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', auth: 'optional' },
  ],
};

test('a listener without TLS neither offers AUTH in EHLO nor accepts it: 538 5.7.11', async () => {
  const h = await startRelay({ config: withClearListener, users: [USER] });
  const c = await RawSmtp.connect(h.port('clear'));
  assert.doesNotMatch(await c.command('EHLO client.test'), /AUTH/);
  assert.equal(await c.command(`AUTH PLAIN ${plainToken('', 'app1', USER.password)}`), ENCRYPTION_REQUIRED);
  assert.equal(await c.command('AUTH LOGIN'), ENCRYPTION_REQUIRED, 'no 334 prompt: the username is never asked for in clear');
  assert.equal(await c.command('AUTH PLAIN'), ENCRYPTION_REQUIRED);
  assert.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  assert.match(await c.command('RCPT TO:<user@example.net>'), /^550 5\.7\.1/, 'not authenticated, so no relaying');
  c.close();
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_auth_failures_total\{listener="clear"\}/), 0, 'no credential was checked');
  await assert.rejects(
    nodemailer
      .createTransport({ host: '127.0.0.1', port: h.port('clear'), ignoreTLS: true, auth: { user: USER.username, pass: USER.password } })
      .sendMail({ from: 'app@example.com', to: 'user@example.net', text: 'x' }),
    'nodemailer cannot log in over a connection without TLS',
  );
});

test('a STARTTLS listener answers AUTH before STARTTLS with 538 5.7.11 and offers it after', async () => {
  const h = await startRelay({ users: [USER] });
  const c = await RawSmtp.connect(h.port('relay'));
  assert.doesNotMatch(await c.command('EHLO client.test'), /AUTH/);
  assert.equal(await c.command(`AUTH PLAIN ${plainToken('', 'app1', USER.password)}`), ENCRYPTION_REQUIRED);
  await c.startTls(h.certs.ca);
  assert.match(await c.command('EHLO client.test'), /AUTH PLAIN LOGIN/);
  assert.match(await c.command(`AUTH PLAIN ${plainToken('', 'app1', USER.password)}`), /^235/);
  c.close();
});

test('an auth: required listener refuses MAIL and RCPT with 530 5.7.0 before AUTH, trusted client or not, before and after STARTTLS', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.0/8'] }, users: [USER] });
  const c = await RawSmtp.connect(h.port('submission'));
  await c.command('EHLO client.test');
  assert.equal(await c.command('MAIL FROM:<app@example.com>'), '530 5.7.0 Authentication required');
  assert.equal(await c.command('RCPT TO:<user@example.net>'), '530 5.7.0 Authentication required');
  await c.startTls(h.certs.ca);
  await c.command('EHLO client.test');
  assert.equal(await c.command('MAIL FROM:<app@example.com>'), '530 5.7.0 Authentication required');
  assert.match(await c.command(`AUTH PLAIN ${plainToken('', 'app1', USER.password)}`), /^235/);
  assert.match(await c.command('MAIL FROM:<app@example.com>'), /^250/);
  assert.match(await c.command('RCPT TO:<user@example.net>'), /^250/);
  c.close();
  await assert.rejects(
    nodemailer
      .createTransport({ host: '127.0.0.1', port: h.port('submission'), ignoreTLS: true })
      .sendMail({ from: 'app@example.com', to: 'user@example.net', text: 'x' }),
    (err: { responseCode?: number }) => err.responseCode === 530,
    'a trusted client without TLS or AUTH cannot relay through the submission listener',
  );
  assert.equal(h.relay.spool.size, 0, 'nothing was queued');
});

test('AUTH PLAIN with an authorization identity other than the user is refused with 535 5.7.8; empty or equal is accepted', async () => {
  const other = { username: 'app2', password: 'another long password', allowedSenderDomains: ['example.org'] };
  const h = await startRelay({ users: [USER, other] });
  const attempt = async (token: string) => {
    const c = await RawSmtp.connect(h.port('smtps'), { implicitTls: true, ca: h.certs.ca });
    await c.command('EHLO client.test');
    const reply = await c.command(`AUTH PLAIN ${token}`);
    c.close();
    return reply;
  };
  assert.equal(
    await attempt(plainToken('app2', 'app1', USER.password)),
    '535 5.7.8 Authorization identity must be empty or equal to the authentication identity',
    'app1 may not act as app2',
  );
  assert.match(await attempt(plainToken('', 'app1', USER.password)), /^235/);
  assert.match(await attempt(plainToken('app1', 'app1', USER.password)), /^235/);
  assert.match(await attempt(plainToken('app1', '', USER.password)), /^235/, 'clients that put the user in the authzid field only');
});

test('after a failure, parallel AUTH attempts from the same address get 454 4.7.0 without a password check', async () => {
  const h = await startRelay({ users: [USER] });
  const open = async () => {
    const c = await RawSmtp.connect(h.port('smtps'), { implicitTls: true, ca: h.certs.ca });
    await c.command('EHLO client.test');
    return c;
  };
  const first = await open();
  assert.match(await first.command(`AUTH PLAIN ${plainToken('', 'app1', 'wrong')}`), /^535 5\.7\.8/);
  first.close();
  const guessers = await Promise.all(Array.from({ length: 5 }, open));
  const replies = await Promise.all(guessers.map((c) => c.command(`AUTH PLAIN ${plainToken('', 'app1', 'wrong again')}`)));
  guessers.forEach((c) => c.close());
  const throttled = replies.filter((r) => r === '454 4.7.0 Too many authentication attempts from your address, try again later');
  assert.equal(throttled.length, 4, replies.join(' | '));
  assert.equal(replies.filter((r) => r.startsWith('535')).length, 1);
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_auth_failures_total\{listener="smtps"\}/), 2, 'only two passwords were checked');
});

test('credentials verified recently log in without waiting for a throttled address', async () => {
  const h = await startRelay({ users: [USER] });
  const open = async () => {
    const c = await RawSmtp.connect(h.port('smtps'), { implicitTls: true, ca: h.certs.ca });
    await c.command('EHLO client.test');
    return c;
  };
  const app = await open();
  assert.match(await app.command(`AUTH PLAIN ${plainToken('', 'app1', USER.password)}`), /^235/);
  app.close();
  const guesser = await open();
  assert.match(await guesser.command(`AUTH PLAIN ${plainToken('', 'app1', 'wrong')}`), /^535/);
  const pending = guesser.command(`AUTH PLAIN ${plainToken('', 'app1', 'wrong')}`); // in progress: delayed failure
  const again = await open();
  assert.match(await again.command(`AUTH PLAIN ${plainToken('', 'app1', USER.password)}`), /^235/, 'a cached success needs no check');
  again.close();
  assert.match(await pending, /^535/);
  guesser.close();
});

test('a failed AUTH logs the user name only when it names a configured user: an unknown one may be a password typed into the wrong field', async (t) => {
  const h = await startRelay({ users: [USER] });
  const lines: string[] = [];
  const capture = new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, done) => done(void lines.push(String(chunk))) }) });
  const wasSilent = testLogger.silent;
  const wasLevel = testLogger.level;
  testLogger.silent = false;
  testLogger.level = 'info';
  testLogger.add(capture);
  t.after(() => {
    testLogger.remove(capture);
    testLogger.silent = wasSilent;
    testLogger.level = wasLevel;
  });
  const typedPassword = 'Tr0ub4dor&3-typed-as-user-name';
  const c = await RawSmtp.connect(h.port('smtps'), { implicitTls: true, ca: h.certs.ca });
  await c.command('EHLO client.test');
  assert.match(await c.command(`AUTH PLAIN ${plainToken('', typedPassword, 'wrong')}`), /^535 5\.7\.8/);
  assert.match(await c.command(`AUTH PLAIN ${plainToken('', USER.username, 'wrong again')}`), /^(535 5\.7\.8|454 4\.7\.0)/);
  c.close();
  const auth = lines.map((l) => JSON.parse(l) as { message: string; user?: string }).filter((l) => l.message.startsWith('authentication'));
  assert.ok(auth.length >= 2, `authentication lines were logged: ${auth.length}`);
  assert.ok(!lines.some((l) => l.includes(typedPassword)), 'the unknown user name is not in any log line');
  assert.ok(!lines.some((l) => l.includes('wrong again')), 'no password is in any log line');
  assert.deepEqual(auth.map((l) => l.user), ['(unknown)', USER.username]);
});
