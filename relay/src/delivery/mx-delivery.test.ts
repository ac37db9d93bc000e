import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import nodemailer from 'nodemailer';
import { stringify, parse } from 'yaml';
import { dkimVerify } from 'mailauth';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { startMxServer, type MxBehaviour, type MxServer } from '../../../test/helpers/mx-server.ts';
import { startDnsServer, type DnsServer } from '../../../test/helpers/dns-server.ts';
import { makeCertificates } from '../../../test/helpers/certs.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { buildDkimDnsRecord } from '../dkim/dkim-signer.ts';
import { scrapeSum } from '../../../test/helpers/scrape.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';

function metric(h: Harness, line: RegExp): Promise<number> {
  return scrapeSum(h.metricsUrl, line);
}

interface World {
  dns: DnsServer;
  port: number;
  /** MX servers by loopback address. */
  mx: Map<string, MxServer>;
  h: Harness;
  dir: string;
  send(mail: Record<string, unknown>): Promise<string>;
}

/**
 * A loopback internet: a DNS server, MX hosts on 127.0.0.x (same port), and a relay in mx mode
 * that resolves through that DNS server. example.com is our sending domain (DKIM, rsa) and its
 * own MX (127.0.0.9) receives the DSNs.
 */
async function world(opts: {
  hosts: Record<string, MxBehaviour>;
  zone: Parameters<typeof startDnsServer>[0];
  config?: Record<string, unknown>;
  /** Further sending domains, without a DKIM key. */
  keylessDomains?: string[];
}): Promise<World> {
  const dir = await tempDir();
  const dns = await startDnsServer(opts.zone);
  after(() => dns.close());
  const mx = new Map<string, MxServer>();
  let port = 0;
  for (const [address, behaviour] of Object.entries({ '127.0.0.9': {}, ...opts.hosts })) {
    const server = await startMxServer(address, port, behaviour);
    port = server.port;
    mx.set(address, server);
  }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'example.com.key');
  writeFileSync(keyFile, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  dns.set('mr1._domainkey.example.com', { txt: [[buildDkimDnsRecord(rsa.publicKey)]] });
  dns.set('example.com', { mx: [{ preference: 10, exchange: 'mx.example.com' }] });
  dns.set('mx.example.com', { a: ['127.0.0.9'] });
  const h = await startRelay({
    dir,
    config: {
      trustedNetworks: ['127.0.0.0/8'],
      domains: [{ name: 'example.com', dkim: { selector: 'mr1', privateKeyFile: keyFile } }, ...(opts.keylessDomains ?? []).map((name) => ({ name }))],
      delivery: { mode: 'mx', resolvers: [dns.server], port, connectTimeout: '2s', commandTimeout: '2s' },
      ...opts.config,
      queue: { dir: join(dir, 'spool'), retrySchedule: ['300ms', '600ms'], ...(opts.config?.queue as object) },
    },
  });
  const send = async (mail: Record<string, unknown>) => {
    const info = await nodemailer
      .createTransport({ host: '127.0.0.1', port: h.port('plain'), ignoreTLS: true })
      .sendMail({ from: 'app@example.com', subject: 'hello', text: 'hello world', ...mail });
    return /queued as (\w+)/.exec(info.response)![1]!;
  };
  return { dns, port, mx, h, dir, send };
}

test('MX hosts are tried in preference order; an unreachable primary falls back to the next', async () => {
  const w = await world({
    hosts: { '127.0.0.3': {} }, // nothing listens on 127.0.0.2
    zone: {
      'example.net': { mx: [{ preference: 20, exchange: 'mx2.example.net' }, { preference: 10, exchange: 'mx1.example.net' }] },
      'mx1.example.net': { a: ['127.0.0.2'] },
      'mx2.example.net': { a: ['127.0.0.3'] },
    },
  });
  await w.send({ to: 'user@example.net' });
  await waitFor('delivery via mx2', () => w.mx.get('127.0.0.3')!.messages.length === 1);
  await waitFor('spool empty', () => w.h.relay.spool.size === 0);
  const mxQueries = w.dns.queries.filter((q) => q.name === 'example.net' && q.type === 'MX');
  assert.ok(mxQueries.length >= 1);
});

test('partial success: accepted recipients are delivered once, the refused one bounces with a DSN', async () => {
  const w = await world({
    hosts: { '127.0.0.2': { onRcpt: (a) => (a.startsWith('bad@') ? { code: 550, text: '5.1.1 no such user' } : undefined) } },
    zone: { 'example.net': { mx: [{ preference: 10, exchange: 'mx.example.net' }] }, 'mx.example.net': { a: ['127.0.0.2'] } },
  });
  const id = await w.send({ to: ['good@example.net', 'bad@example.net', 'also@example.net'], subject: 'quarterly report' });
  const mx = w.mx.get('127.0.0.2')!;
  const dsnBox = w.mx.get('127.0.0.9')!;
  await waitFor('delivery and DSN', () => mx.messages.length === 1 && dsnBox.messages.length === 1);
  assert.deepEqual(mx.messages[0]!.to.sort(), ['also@example.net', 'good@example.net']);
  const dsn = dsnBox.messages[0]!;
  assert.equal(dsn.from, '', 'DSNs come from the null sender');
  assert.deepEqual(dsn.to, ['app@example.com']);
  const text = dsn.body.toString();
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/);
  assert.match(text, /Content-Type: message\/delivery-status/);
  assert.match(text, /Final-Recipient: rfc822; bad@example\.net\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx\.example\.net\r\nDiagnostic-Code: smtp; 550 5\.1\.1 no such user/);
  assert.doesNotMatch(text, /Final-Recipient: rfc822; good@/);
  assert.match(text, /Content-Type: text\/rfc822-headers[\s\S]*Subject: quarterly report/);
  assert.match(text, new RegExp(`X-Mail-Relay-Queue-ID: ${id}`));
  await waitFor('spool empty', () => w.h.relay.spool.size === 0);
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(mx.messages.length, 1, 'delivered recipients are not retried');
  assert.equal(await metric(w.h, /^mailrelay_messages_bounced_total\{domain="example\.com",provider="other",type="hard"\}/), 1);
  assert.equal(await metric(w.h, /^mailrelay_messages_delivered_total\{domain="example\.com"/), 2 + 0);
});

test('null MX and non-existent domains bounce at once; no MX falls back to the A record', async () => {
  const w = await world({
    hosts: { '127.0.0.2': {} },
    zone: {
      'nullmx.test': { mx: [{ preference: 0, exchange: '.' }] },
      'plain.test': { a: ['127.0.0.2'] },
    },
  });
  await w.send({ to: ['u@nullmx.test', 'u@missing.test', 'u@plain.test'] });
  const dsnBox = w.mx.get('127.0.0.9')!;
  await waitFor('A fallback delivery and a DSN', () => w.mx.get('127.0.0.2')!.messages.length === 1 && dsnBox.messages.length === 1);
  assert.deepEqual(w.mx.get('127.0.0.2')!.messages[0]!.to, ['u@plain.test']);
  const text = dsnBox.messages[0]!.body.toString();
  assert.match(text, /Final-Recipient: rfc822; u@nullmx\.test\r\nAction: failed\r\nStatus: 5\.1\.10/);
  assert.match(text, /Final-Recipient: rfc822; u@missing\.test\r\nAction: failed\r\nStatus: 5\.1\.2/);
});

test('temporary failures retry on the (scaled) schedule, then expire into a DSN', async () => {
  const tries: number[] = [];
  const w = await world({
    hosts: {
      '127.0.0.2': {
        onRcpt: () => {
          tries.push(Date.now());
          return { code: 451, text: '4.7.1 greylisted' };
        },
      },
    },
    zone: { 'example.net': { mx: [{ preference: 10, exchange: 'mx.example.net' }] }, 'mx.example.net': { a: ['127.0.0.2'] } },
    config: { queue: { retrySchedule: ['300ms', '600ms'], maxAge: '2s' } },
  });
  await w.send({ to: 'user@example.net' });
  const mx = w.mx.get('127.0.0.2')!;
  const dsnBox = w.mx.get('127.0.0.9')!;
  await waitFor('expiry DSN', () => dsnBox.messages.length === 1, 15_000);
  const gaps = tries.slice(1).map((t, i) => t - tries[i]!);
  assert.ok(gaps.length >= 3, `attempts: ${tries.length}`);
  assert.ok(mx.attempts.length < tries.length, 'retries reuse the open connection');
  // 300 ms, then 600 ms repeating, each ±10% jitter (plus scheduling slack)
  assert.ok(gaps[0]! >= 260 && gaps[0]! < 550, `first retry after ${gaps[0]} ms`);
  for (const gap of gaps.slice(1)) assert.ok(gap >= 530 && gap < 900, `later retry after ${gap} ms (${gaps.join(',')})`);
  assert.match(dsnBox.messages[0]!.body.toString(), /Status: 4\.4\.7\r\nRemote-MTA: dns; mx\.example\.net\r\nDiagnostic-Code: smtp; 451 4\.7\.1 greylisted/);
  assert.equal(await metric(w.h, /^mailrelay_messages_bounced_total\{.*type="expired"\}/), 1);
  // The DSN's own record leaves the spool just after the sink's 250.
  await waitFor('spool empty', () => w.h.relay.spool.size === 0);
});

test('messages are DKIM-signed for their From: domain and verify against the published key', async () => {
  const w = await world({
    hosts: { '127.0.0.2': {} },
    zone: { 'example.net': { mx: [{ preference: 10, exchange: 'mx.example.net' }] }, 'mx.example.net': { a: ['127.0.0.2'] } },
    keylessDomains: ['plain.example'],
  });
  await w.send({ to: 'user@example.net', from: '"App" <app@example.com>', subject: 'signed', html: '<p>héllo   world </p>\n\n' });
  await w.send({ to: 'user@example.net', from: 'someone@plain.example', envelope: { from: 'app@example.com', to: 'user@example.net' } });
  // above the spool's inline limit: the body streams from large/, signed in two passes
  const big = `${'línea   con espacios  \n'.repeat(20_000)}fin\n`;
  await w.send({ to: 'user@example.net', subject: 'big signed', text: big });
  const mx = w.mx.get('127.0.0.2')!;
  await waitFor('three deliveries', () => mx.messages.length === 3);
  const resolver = new Resolver();
  resolver.setServers([w.dns.server]);
  const signed = mx.messages.find((m) => m.body.toString().includes('Subject: signed'))!;
  assert.match(signed.body.toString(), /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=example\.com; s=mr1;/);
  const result = await dkimVerify(signed.body, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') });
  assert.equal(result.results[0]?.status.result, 'pass', JSON.stringify(result.results[0]?.status));
  const large = mx.messages.find((m) => m.body.toString().includes('Subject: big signed'))!;
  assert.ok(large.body.length > 400_000, `large body delivered whole (${large.body.length} bytes)`);
  const largeResult = await dkimVerify(large.body, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') });
  assert.equal(largeResult.results[0]?.status.result, 'pass', JSON.stringify(largeResult.results[0]?.status));
  const unsigned = mx.messages.find((m) => !m.body.toString().includes('Subject: signed') && !m.body.toString().includes('Subject: big signed'))!;
  assert.doesNotMatch(unsigned.body.toString(), /DKIM-Signature/, 'a From: of a sending domain without a DKIM key is not signed');
});

test('opportunistic STARTTLS to MX hosts is used and counted by TLS version', async () => {
  const certs = makeCertificates(await tempDir());
  const w = await world({
    hosts: { '127.0.0.2': { tls: certs } },
    zone: { 'example.net': { mx: [{ preference: 10, exchange: 'mx.example.net' }] }, 'mx.example.net': { a: ['127.0.0.2'] } },
  });
  await w.send({ to: 'user@example.net' });
  await waitFor('delivery', () => w.mx.get('127.0.0.2')!.messages.length === 1);
  assert.equal(w.mx.get('127.0.0.2')!.messages[0]!.secure, true);
  assert.equal(await metric(w.h, /^mailrelay_tls_sessions_total\{direction="outbound",version="TLSv1\.3"\}/), 1);
});

test('IPv6: an MX with only an AAAA record is reached over ::1', async () => {
  const w = await world({ hosts: {}, zone: {} });
  const v6 = await startMxServer('::1', w.port);
  w.dns.set('example.net', { mx: [{ preference: 10, exchange: 'mx6.example.net' }] });
  w.dns.set('mx6.example.net', { aaaa: ['::1'] });
  await w.send({ to: 'user@example.net' });
  await waitFor('delivery over IPv6', () => v6.messages.length === 1);
});

test('an MX host whose AAAA query is REFUSED (dnsmasq 2.90) is reached at its A record; a host with neither defers', async () => {
  const w = await world({
    hosts: { '127.0.0.2': {} },
    zone: {
      'example.net': { mx: [{ preference: 10, exchange: 'mx.example.net' }] },
      'mx.example.net': { a: ['127.0.0.2'], refuse: ['AAAA'] },
      'example.org': { mx: [{ preference: 10, exchange: 'mx.example.org' }] },
      'mx.example.org': { refuse: ['A', 'AAAA'] },
    },
  });
  await w.send({ to: 'user@example.net' });
  await waitFor('delivery via the A record', () => w.mx.get('127.0.0.2')!.messages.length === 1);
  assert.ok(w.dns.queries.some((q) => q.name === 'mx.example.net' && q.type === 'AAAA'), 'the AAAA query was asked and refused');
  const id = await w.send({ to: 'user@example.org' });
  await waitFor('deferred', async () => (await metric(w.h, /^mailrelay_messages_deferred_total\{domain="example\.com"/)) >= 1);
  assert.equal(w.h.relay.spool.get(id)?.meta.recipients[0]?.status, 'pending', 'still queued for a retry');
});

test('a domain paused by config refuses new mail with 451 4.7.1, holds queued mail, and flows again when the flag clears', async () => {
  let busy = true;
  const w = await world({
    hosts: { '127.0.0.2': { onConnect: () => (busy ? { code: 421, text: 'busy' } : undefined) } },
    zone: { 'example.net': { mx: [{ preference: 10, exchange: 'mx.example.net' }] }, 'mx.example.net': { a: ['127.0.0.2'] } },
  });
  await w.send({ to: 'user@example.net' });
  await waitFor('deferred', async () => (await metric(w.h, /^mailrelay_messages_deferred_total\{[^}]*\}/)) >= 1);
  const raw = parse(readFileSync(w.h.configPath, 'utf8')) as { domains: Array<Record<string, unknown>> };
  raw.domains[0]!.paused = true;
  writeFileSync(w.h.configPath, stringify(raw));
  await new Promise((r) => setTimeout(r, 400)); // the relay polls every 100 ms
  busy = false;
  await waitFor('held', async () => (await metric(w.h, /^mailrelay_queue_messages\{state="held"\}/)) === 1);
  await new Promise((r) => setTimeout(r, 1000)); // past several retry steps (300 ms, 600 ms)
  assert.equal(w.mx.get('127.0.0.2')!.messages.length, 0);
  await assert.rejects(w.send({ to: 'other@example.net' }), /451.*4\.7\.1/);
  raw.domains[0]!.paused = false;
  writeFileSync(w.h.configPath, stringify(raw));
  await waitFor('delivery after resume', () => w.mx.get('127.0.0.2')!.messages.length === 1);
});
