import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { startMxServer, type MxServer } from '../../../test/helpers/mx-server.ts';
import { makeCertificates } from '../../../test/helpers/certs.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { scrapeSum } from '../../../test/helpers/scrape.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';

function metric(h: Harness, line: RegExp): Promise<number> {
  return scrapeSum(h.metricsUrl, line);
}

function submit(h: Harness, mail: Record<string, unknown>) {
  return nodemailer.createTransport({ host: '127.0.0.1', port: h.port('plain'), ignoreTLS: true }).sendMail({
    from: 'app@example.com',
    to: 'user@example.net',
    subject: 'hello',
    text: 'hello world',
    ...mail,
  });
}

async function relayTo(sink: MxServer, smarthost: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return startRelay({
    config: {
      trustedNetworks: ['127.0.0.0/8'],
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none', ...smarthost }, ...extra },
      queue: { dir: join(await tempDir(), 'spool'), retrySchedule: ['300ms'] },
    },
  });
}

test('delivers through the smarthost and empties the spool', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  const h = await relayTo(sink, {});
  const info = await submit(h, { to: ['a@example.net', 'b@example.org'], messageId: '<m1@example.com>' });
  await waitFor('delivery', () => sink.messages.length === 1 && h.relay.spool.size === 0);
  const [msg] = sink.messages;
  assert.deepEqual(msg!.to.sort(), ['a@example.net', 'b@example.org'], 'both recipients in one transaction');
  assert.equal(msg!.from, 'app@example.com');
  assert.match(msg!.body.toString(), new RegExp(`^Received: .*\\r\\n\\tby relay\\.test \\(mail-relay\\)\\r\\n\\twith ESMTP id ${/queued as (\w+)/.exec(info.response)![1]}`));
  assert.match(msg!.body.toString(), /Message-ID: <m1@example\.com>/);
  assert.equal(await metric(h, /^mailrelay_messages_delivered_total\{domain="none",provider="other"\}/), 2);
  assert.ok((await metric(h, /^mailrelay_delivery_duration_seconds_count/)) >= 2);
});

test('smarthost with STARTTLS and AUTH: the password comes from passwordFile, the certificate is verified', async () => {
  const dir = await tempDir();
  const certs = makeCertificates(dir);
  const sink = await startMxServer('127.0.0.1', 0, { tls: certs, auth: { user: 'relay', pass: 'pa55' } });
  const passwordFile = join(dir, 'password');
  writeFileSync(passwordFile, 'pa55\n');
  const h = await relayTo(sink, { tls: 'starttls', username: 'relay', passwordFile, caFile: certs.caFile, host: 'localhost' });
  await submit(h, {});
  await waitFor('delivery', () => sink.messages.length === 1);
  assert.equal(sink.messages[0]!.secure, true);
  assert.equal(sink.messages[0]!.user, 'relay');
  await waitFor('outbound TLS counted', async () => (await metric(h, /^mailrelay_tls_sessions_total\{direction="outbound"/)) >= 1);
});

test('when the smarthost offers no STARTTLS the message is deferred, never sent in clear', async () => {
  const sink = await startMxServer('127.0.0.1', 0); // no TLS
  const h = await relayTo(sink, { tls: 'starttls' });
  await submit(h, {});
  const reply = () => [...h.relay.spool.values()][0]?.meta.recipients[0]?.lastReply ?? '';
  await waitFor('a deferral', () => reply() !== '');
  assert.match(reply(), /STARTTLS/);
  assert.equal(await metric(h, /^mailrelay_messages_deferred_total/), 1);
  assert.equal(sink.messages.length, 0);
  assert.ok(sink.attempts.length >= 1, 'the relay did connect');
});

test('a smarthost certificate that does not verify defers the message', async () => {
  const dir = await tempDir();
  const sink = await startMxServer('127.0.0.1', 0, { tls: makeCertificates(dir) });
  const h = await relayTo(sink, { tls: 'starttls', host: 'localhost' }); // no caFile: the test CA is unknown
  await submit(h, {});
  await waitFor('a deferral', async () => (await metric(h, /^mailrelay_messages_deferred_total/)) >= 1);
  assert.equal(sink.messages.length, 0);
});

test('per-destination connection limit is never exceeded and connections are reused', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  const h = await relayTo(sink, {}, { perDestination: { maxConnections: 2 } });
  await Promise.all(Array.from({ length: 30 }, (_, i) => submit(h, { to: `r${i}@example.net` })));
  await waitFor('30 deliveries', () => sink.messages.length === 30, 20_000);
  assert.ok(sink.peakSessions() <= 2, `peak ${sink.peakSessions()} sessions`);
  assert.ok(sink.attempts.length < 30, `${sink.attempts.length} connections for 30 messages: connections are reused`);
});

test('the per-destination message rate is respected', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  const h = await relayTo(sink, {}, { perDestination: { maxConnections: 5, maxMessagesPerSecond: 5 } });
  const submitted = Date.now();
  await Promise.all(Array.from({ length: 15 }, (_, i) => submit(h, { to: `r${i}@example.net` })));
  await waitFor('15 deliveries', () => sink.messages.length === 15, 20_000);
  const last = Math.max(...sink.messages.map((m) => m.at));
  // a burst of 5 is allowed, then 5 per second: the 15th message cannot be sent before 2 s
  // after the first. Measured from the submission, not the first arrival, which a loaded
  // machine can delay while the limiter's clock runs.
  assert.ok(last - submitted >= 1900, `15 messages in ${last - submitted} ms`);
});

test('a 4xx after DATA defers; the next attempt delivers only once', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  let calls = 0;
  sink.behaviour = { onData: () => (++calls === 1 ? { code: 451, text: '4.3.0 try again later' } : undefined) };
  const h = await relayTo(sink, {});
  await submit(h, {});
  await waitFor('delivery after a retry', () => sink.messages.length === 1 && h.relay.spool.size === 0);
  assert.equal(calls, 2);
  assert.equal(await metric(h, /^mailrelay_messages_deferred_total/), 1);
  assert.equal(await metric(h, /^mailrelay_messages_delivered_total/), 1);
});

test('a connection dropped mid-DATA is retried', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  let calls = 0;
  sink.behaviour = { onData: () => (++calls === 1 ? 'drop' : undefined) };
  const h = await relayTo(sink, {});
  await submit(h, { text: 'x'.repeat(200_000) });
  await waitFor('delivery after the drop', () => sink.messages.length === 1 && h.relay.spool.size === 0);
  assert.ok(calls >= 2);
});

test('a stalled server times out and the message is deferred', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  sink.behaviour = { onData: () => 'stall' };
  const h = await relayTo(sink, {}, { commandTimeout: '500ms' });
  await submit(h, {});
  await waitFor('a deferral', async () => (await metric(h, /^mailrelay_messages_deferred_total/)) >= 1, 10_000);
  assert.equal(sink.messages.length, 0);
  assert.equal(h.relay.spool.size, 1);
});

test('a smarthost restart between messages costs no deferral: a closed idle connection is replaced', async () => {
  const first = await startMxServer('127.0.0.1', 0);
  const h = await startRelay({
    config: {
      trustedNetworks: ['127.0.0.0/8'],
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: first.port, tls: 'none' } },
      queue: { dir: join(await tempDir(), 'spool'), retrySchedule: ['1m'] },
    },
  });
  await submit(h, { subject: 'one' });
  await waitFor('first delivery', () => first.messages.length === 1);
  await first.close();
  const second = await startMxServer('127.0.0.1', first.port);
  await submit(h, { subject: 'two' });
  await waitFor('second delivery without waiting for a retry', () => second.messages.length === 1, 5_000);
  assert.equal(await metric(h, /^mailrelay_messages_deferred_total/), 0);
});
