import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { after } from 'node:test';
import { dkimVerify } from 'mailauth';
import { startRelay, type Harness } from '../helpers/relay-harness.ts';
import { startMxServer, type MxServer } from '../helpers/mx-server.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { RawSmtp } from '../helpers/raw-smtp.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { buildDkimDnsRecord } from '../../relay/src/dkim/dkim-signer.ts';
import { buildUnsubscribeToken } from '../../relay/src/unsubscribe/unsubscribe-token.ts';

interface World {
  h: Harness;
  sink: MxServer;
  dns: DnsServer;
  url: string;
}

/** news.test sends bulk mail (domains[].bulk), notices.test does not; both DKIM-signed, published in a loopback DNS server. */
async function world(newsCategories: unknown[] = []): Promise<World> {
  const dir = await tempDir();
  const dns = await startDnsServer();
  after(() => dns.close());
  const domains = [];
  for (const [name, bulk] of [['news.test', true], ['notices.test', false]] as const) {
    const key = generateKeyPairSync('ed25519');
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    dns.set(`mr1._domainkey.${name}`, { txt: [[buildDkimDnsRecord(key.publicKey)]] });
    const categories = name === 'news.test' ? { categories: newsCategories } : {};
    domains.push({ name, bulk: bulk && newsCategories.length === 0, ...categories, dkim: { selector: 'mr1', privateKeyFile: keyFile, algorithm: 'ed25519-sha256' } });
  }
  const keyFile = join(dir, 'unsubscribe.key');
  writeFileSync(keyFile, randomBytes(32).toString('base64url'));
  const sink = await startMxServer('127.0.0.1', 0);
  const h = await startRelay({
    dir,
    config: {
      listeners: [{ name: 'plain', address: '127.0.0.1', port: 0, tls: 'none', auth: 'none', submission: false }],
      trustedNetworks: ['127.0.0.0/8'],
      domains,
      unsubscribe: { url: 'http://127.0.0.1:1/', keyFile, address: '127.0.0.1', port: 0, mailto: 'unsubscribe@feedback.test' },
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
    },
  });
  return { h, sink, dns, url: `http://127.0.0.1:${h.relay.unsubscribePort}` };
}

async function send(w: World, from: string, to: string[], subject: string, category?: string): Promise<string> {
  const c = await RawSmtp.connect(w.h.port('plain'));
  try {
    await c.command('EHLO app.test');
    assert.match(await c.command(`MAIL FROM:<${from}>`), /^250/);
    for (const r of to) {
      const reply = await c.command(`RCPT TO:<${r}>`);
      if (!reply.startsWith('250')) return reply;
    }
    assert.match(await c.command('DATA'), /^354/);
    const label = category ? `X-Mail-Relay-Category: ${category}\r\n` : '';
    return await c.command(`From: ${from}\r\nTo: ${to.join(', ')}\r\n${label}Subject: ${subject}\r\n\r\nbody\r\n.`);
  } finally {
    c.close();
  }
}

/** The https link of a received message's List-Unsubscribe header (pointing at the test's listener). */
function link(w: World, body: Buffer): string {
  const header = /^List-Unsubscribe: <([^>]+)>/m.exec(body.toString('latin1'))?.[1];
  assert.ok(header, 'List-Unsubscribe present');
  return `${w.url}${new URL(header).pathname}`;
}

async function dkim(w: World, body: Buffer) {
  const resolver = new Resolver();
  resolver.setServers([w.dns.server]);
  const verified = await dkimVerify(body, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') });
  return verified.results.map((r) => ({ result: String(r.status.result), headers: String((r as { signingHeaders?: { keys?: string } }).signingHeaders?.keys ?? '') }));
}

test('bulk mail gets signed one-click headers per recipient; the POST suppresses exactly that recipient; GET and forged tokens change nothing', async () => {
  const w = await world();
  assert.match(await send(w, 'list@news.test', ['a@mail.test', 'b@mail.test'], 'issue 1'), /^250/);
  assert.match(await send(w, 'ops@notices.test', ['a@mail.test'], 'notice'), /^250/);
  await waitFor('three deliveries', () => w.sink.messages.length === 3 && w.h.relay.spool.size === 0);

  const bulk = w.sink.messages.filter((m) => m.from === 'list@news.test');
  assert.deepEqual(bulk.map((m) => m.to).sort(), [['a@mail.test'], ['b@mail.test']], 'one transaction per recipient');
  const notice = w.sink.messages.find((m) => m.from === 'ops@notices.test')!;
  assert.doesNotMatch(notice.body.toString('latin1'), /List-Unsubscribe/i, 'no headers on mail that is not bulk');
  for (const m of bulk) {
    const text = m.body.toString('latin1');
    assert.match(text, /^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    assert.match(text, /<mailto:unsubscribe@feedback\.test\?subject=unsubscribe%20[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}>/);
    const [signature] = await dkim(w, m.body);
    assert.equal(signature?.result, 'pass');
    assert.match(signature!.headers.toLowerCase(), /list-unsubscribe.*list-unsubscribe-post|list-unsubscribe-post.*list-unsubscribe/, 'both headers are signed');
  }
  const linkA = link(w, bulk.find((m) => m.to[0] === 'a@mail.test')!.body);
  assert.notEqual(linkA, link(w, bulk.find((m) => m.to[0] === 'b@mail.test')!.body), 'tokens differ per recipient');

  // a link preview fetches the page: nothing changes
  const page = await fetch(linkA);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<form method="post"/);
  assert.match(await send(w, 'list@news.test', ['a@mail.test'], 'still subscribed'), /^250/);

  // a token altered into another recipient's, or made with another key, is refused
  const forged = buildUnsubscribeToken(randomBytes(32), { domain: 'news.test', category: '', recipient: 'b@mail.test' });
  assert.equal((await fetch(`${w.url}/u/${forged}`, { method: 'POST', body: 'List-Unsubscribe=One-Click' })).status, 400);
  const [payload, mac] = new URL(linkA).pathname.slice(3).split('.') as [string, string];
  const swapped = Buffer.from(Buffer.from(payload, 'base64url').toString().replace('a@mail.test', 'b@mail.test')).toString('base64url');
  assert.equal((await fetch(`${w.url}/u/${swapped}.${mac}`, { method: 'POST', body: 'List-Unsubscribe=One-Click' })).status, 400);
  assert.equal((await fetch(linkA, { method: 'POST', body: 'something=else' })).status, 400, 'not the RFC 8058 body');

  const res = await fetch(linkA, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
  assert.equal(res.status, 200);
  assert.match(await send(w, 'list@news.test', ['a@mail.test'], 'after'), /^550 /, 'a@ no longer gets news.test mail');
  assert.match(await send(w, 'list@news.test', ['b@mail.test'], 'b still'), /^250/, 'b@ still does');
  assert.match(await send(w, 'ops@notices.test', ['a@mail.test'], 'other domain'), /^250/, 'and a@ still gets another domain’s mail');

  // it is durable: a restart keeps it
  const restarted = await w.h.restart();
  const c = await RawSmtp.connect(restarted.port('plain'));
  await c.command('EHLO app.test');
  await c.command('MAIL FROM:<list@news.test>');
  assert.match(await c.command('RCPT TO:<a@mail.test>'), /^550 /);
  c.close();
});

test('the mailto variant unsubscribes through the intake with the token in the subject; mail without a valid token is dropped', async () => {
  const w = await world();
  assert.match(await send(w, 'list@news.test', ['c@mail.test'], 'issue 2'), /^250/);
  await waitFor('delivery', () => w.sink.messages.length === 1 && w.h.relay.spool.size === 0);
  const token = /subject=unsubscribe%20([A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22})/.exec(w.sink.messages[0]!.body.toString('latin1'))![1]!;

  const mail = async (subject: string) => {
    const c = await RawSmtp.connect(w.h.port('plain'));
    await c.command('EHLO mailbox.provider');
    await c.command('MAIL FROM:<c@mail.test>');
    assert.match(await c.command('RCPT TO:<unsubscribe@feedback.test>'), /^250/);
    await c.command('DATA');
    const reply = await c.command(`From: c@mail.test\r\nTo: unsubscribe@feedback.test\r\nSubject: ${subject}\r\n\r\n\r\n.`);
    c.close();
    return reply;
  };
  assert.match(await mail('please stop'), /^250/);
  assert.match(await mail(`unsubscribe ${token.slice(0, -2)}AA`), /^250/);
  assert.match(await send(w, 'list@news.test', ['c@mail.test'], 'still'), /^250/, 'neither unsubscribed anyone');
  assert.match(await mail(`unsubscribe ${token}`), /^250/);
  assert.match(await send(w, 'list@news.test', ['c@mail.test'], 'after mailto'), /^550 /);
  await waitFor('the one before it delivered', () => w.h.relay.spool.size === 0);
  assert.equal(w.sink.messages.filter((m) => m.to.includes('unsubscribe@feedback.test')).length, 0, 'mail to the intake is consumed, never relayed');
});

test('an unsubscribe from a bulk category stops that category only: other categories still reach the reader, and a message to several recipients leaves out only the unsubscribed one', async () => {
  const w = await world([{ name: 'newsletter', bulk: true }, 'transactional']);
  assert.match(await send(w, 'list@news.test', ['d@mail.test'], 'weekly', 'newsletter'), /^250/);
  assert.match(await send(w, 'list@news.test', ['d@mail.test'], 'reset', 'transactional'), /^250/);
  await waitFor('two deliveries', () => w.sink.messages.length === 2 && w.h.relay.spool.size === 0);
  const weekly = w.sink.messages.find((m) => /Subject: weekly/.test(m.body.toString('latin1')))!;
  const reset = w.sink.messages.find((m) => /Subject: reset/.test(m.body.toString('latin1')))!;
  assert.doesNotMatch(reset.body.toString('latin1'), /List-Unsubscribe/, 'transactional mail has no unsubscribe link');
  const res = await fetch(link(w, weekly.body), { method: 'POST', body: 'List-Unsubscribe=One-Click' });
  assert.equal(res.status, 200);

  assert.match(await send(w, 'list@news.test', ['d@mail.test'], 'weekly 2', 'newsletter'), /^550 5\.7\.1 Every recipient unsubscribed from category newsletter/);
  assert.match(await send(w, 'list@news.test', ['d@mail.test', 'e@mail.test'], 'weekly 3', 'newsletter'), /^250/);
  assert.match(await send(w, 'list@news.test', ['d@mail.test'], 'reset 2', 'transactional'), /^250/);
  await waitFor('two more deliveries', () => w.sink.messages.length === 4 && w.h.relay.spool.size === 0);
  const later = w.sink.messages.slice(2).map((m) => `${/Subject: (.*)\r/.exec(m.body.toString('latin1'))![1]} ${m.to.join(',')}`).sort();
  assert.deepEqual(later, ['reset 2 d@mail.test', 'weekly 3 e@mail.test']);
});
