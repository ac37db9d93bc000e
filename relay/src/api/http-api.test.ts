import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { startMxServer } from '../../../test/helpers/mx-server.ts';
import { scrapeSum } from '../../../test/helpers/scrape.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { API_ROUTES } from './api-server.ts';
import type { OPENAPI } from './openapi.ts';

const APP1 = 'app1-secret-token-0001';
const APP2 = 'app2-secret-token-0002';
const TOKENS = [
  { name: 'app1', token: APP1, allowedSenderDomains: ['example.com'] },
  // stored as a hash only
  { name: 'app2', tokenHash: `sha256:${createHash('sha256').update(APP2).digest('hex')}`, allowedSenderDomains: [] },
];
const DOMAINS = [{ name: 'example.com' }, { name: 'other.test' }];

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown> & { problems?: Array<{ field: string; message: string }> };
}

async function call(h: Harness, method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(`${h.apiUrl}${path}`, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    ...(opts.raw !== undefined ? { body: opts.raw } : opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Answer['body'] };
}

const send = (h: Harness, body: unknown, token = APP1, headers: Record<string, string> = {}) => call(h, 'POST', '/v1/messages', { token, body, headers });

const simple = { from: 'App <app@example.com>', to: 'user@example.net', subject: 'hello', text: 'hello world' };

function fields(a: Answer): string[] {
  return (a.body.problems ?? []).map((p) => p.field).sort();
}

async function bodyOf(h: Harness, id: string): Promise<string> {
  const entry = h.relay.spool.get(id);
  assert.ok(entry, `message ${id} is in the spool`);
  return (await h.relay.spool.readBody(entry)).toString('latin1');
}

async function relay(extra: Record<string, unknown> = {}): Promise<Harness> {
  return startRelay({ tokens: TOKENS, config: { domains: DOMAINS, ...extra } });
}

test('the OpenAPI document lists exactly the routes the server serves, and each is routed', async () => {
  const h = await relay();
  const served = API_ROUTES.map((r) => `${r.method} ${r.path}`).sort();
  const doc = (await call(h, 'GET', '/v1/openapi.json')).body as unknown as typeof OPENAPI;
  assert.equal(doc.openapi, '3.1.0');
  const documented = Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  assert.deepEqual(documented, served);
  for (const key of documented) {
    const [method, path] = key.split(' ') as [string, string];
    const answer = await call(h, method, path.replace('{id}', '0000000000000000'), { token: APP1, ...(method === 'POST' ? { body: {} } : {}) });
    assert.notEqual(answer.body.error, 'no_such_route', key);
    assert.notEqual(answer.status, 405, key);
  }
  assert.equal((await call(h, 'GET', '/v1/nothing', { token: APP1 })).body.error, 'no_such_route');
  const wrongMethod = await call(h, 'DELETE', '/v1/messages', { token: APP1 });
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'POST');
});

test('queues a composed message after the fsync and answers 202 with its id; the MIME message carries every field', async () => {
  const h = await relay();
  const answer = await send(h, {
    from: { name: 'App', address: 'app@example.com' },
    to: ['a@example.net', 'B <b@example.net>'],
    cc: 'c@example.net',
    bcc: ['hidden@example.net'],
    replyTo: 'support@example.com',
    subject: 'Grüße',
    text: 'plain body',
    html: '<p>html body</p>',
    headers: { 'X-Campaign': 'spring', 'List-Unsubscribe': '<mailto:u@example.com>' },
    attachments: [{ filename: 'a.txt', content: Buffer.from('attached bytes').toString('base64'), contentType: 'text/plain' }],
  });
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  const id = answer.body.id as string;
  assert.match(id, /^[0-9A-Z]{16}$/);
  assert.deepEqual(answer.body.rejected, []);
  const entry = h.relay.spool.get(id)!;
  assert.deepEqual(entry.meta.recipients.map((r) => r.address), ['a@example.net', 'b@example.net', 'c@example.net', 'hidden@example.net']);
  assert.equal(entry.meta.from, 'app@example.com');
  assert.equal(entry.meta.sendingDomain, 'example.com');
  assert.equal(entry.meta.headerFromDomain, 'example.com');
  assert.deepEqual(entry.meta.origin, { listener: 'http', clientAddress: '127.0.0.1', user: 'app1' });
  const body = await bodyOf(h, id);
  assert.match(body, /^Received: from unknown \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test \(mail-relay\)\r\n\twith HTTP id [0-9A-Z]{16};/);
  assert.match(body, new RegExp(`\r\nMessage-ID: <${id.toLowerCase()}@relay\\.test>\r\n`, 'i'));
  assert.match(body, /\r\nDate: /);
  assert.match(body, /\r\nFrom: App <app@example\.com>\r\n/);
  assert.match(body, /\r\nTo: a@example\.net, B <b@example\.net>\r\n/);
  assert.match(body, /\r\nCc: c@example\.net\r\n/);
  assert.doesNotMatch(body, /hidden@example\.net/, 'Bcc is not written to the message');
  assert.match(body, /\r\nReply-To: support@example\.com\r\n/);
  assert.match(body, /\r\nSubject: =\?UTF-8\?Q\?Gr=C3=BC=C3=9Fe\?=\r\n/);
  assert.match(body, /\r\nX-Campaign: spring\r\n/);
  assert.match(body, /multipart\/mixed/);
  assert.match(body, /filename=a\.txt/);
  assert.ok(body.includes(Buffer.from('attached bytes').toString('base64')));
  assert.doesNotMatch(body.replace(/\r\n/g, ''), /\n/, 'only CRLF line endings');
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_messages_received_total\{listener="http"\}/), 1);
});

test('refuses a missing or unknown token with 401 and counts it', async () => {
  const h = await relay();
  const none = await call(h, 'POST', '/v1/messages', { body: simple });
  assert.equal(none.status, 401);
  assert.equal(none.body.error, 'unauthorized');
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal((await send(h, simple, 'app1-secret-token-0009')).status, 401);
  assert.equal((await call(h, 'POST', '/v1/messages', { body: simple, headers: { authorization: `Basic ${APP1}` } })).status, 401);
  assert.equal((await call(h, 'GET', '/v1/messages/0000000000000000')).status, 401);
  // the hashed token works
  assert.equal((await send(h, simple, APP2)).status, 202);
  assert.equal(h.relay.spool.size, 1);
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_messages_rejected_total\{listener="http",reason="unauthorized"\}/), 3);
});

test('answers 400 naming every problem: bad JSON, missing and unknown fields, bad addresses, bad base64', async () => {
  const h = await relay();
  const bad = await call(h, 'POST', '/v1/messages', { token: APP1, raw: '{"from": ' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, 'invalid_json');

  const notObject = await send(h, ['x']);
  assert.equal(notObject.status, 400);
  assert.deepEqual(fields(notObject), ['']);

  const empty = await send(h, {});
  assert.equal(empty.status, 400);
  assert.equal(empty.body.error, 'invalid_request');
  assert.deepEqual(fields(empty), ['from', 'text', 'to']);

  const many = await send(h, {
    from: 'not an address',
    to: ['ok@example.net', 'nope', 42],
    cc: { address: 'x@example.net', surprise: 1 },
    subject: 7,
    text: 'hi',
    headers: { 'Bad Name': 'x', To: 'y@example.net', 'X-Num': 3 },
    attachments: [{ content: 'not base64!' }, 'x'],
    colour: 'blue',
  });
  assert.equal(many.status, 400);
  assert.deepEqual(fields(many), [
    'attachments[0].content',
    'attachments[0].filename',
    'attachments[1]',
    'cc.surprise',
    'colour',
    'from',
    'headers.Bad Name',
    'headers.To',
    'headers.X-Num',
    'subject',
    'to[1]',
    'to[2]',
  ]);
  const unsupported = await fetch(`${h.apiUrl}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${APP1}`, 'content-type': 'text/plain' }, body: 'x' });
  assert.equal(unsupported.status, 415);
  assert.equal(h.relay.spool.size, 0);
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_messages_rejected_total\{listener="http",reason="invalid_request"\}/), 5);
});

test('refuses header injection through CR or LF in subject, headers, names, addresses and filenames', async () => {
  const h = await relay();
  const cases: Array<[string, Record<string, unknown>]> = [
    ['subject', { ...simple, subject: 'hi\r\nBcc: victim@example.org' }],
    ['subject', { ...simple, subject: 'hi\nX-Evil: 1' }],
    ['headers.X-Tag', { ...simple, headers: { 'X-Tag': 'a\r\nBcc: victim@example.org' } }],
    ['from.name', { ...simple, from: { name: 'App\r\nBcc: victim@example.org', address: 'app@example.com' } }],
    ['from', { ...simple, from: 'App <app@example.com>\r\nBcc: victim@example.org' }],
    ['to', { ...simple, to: 'user@example.net\r\nBcc: victim@example.org' }],
    ['to[0].address', { ...simple, to: [{ address: 'user@example.net\nx' }] }],
    ['attachments[0].filename', { ...simple, attachments: [{ filename: 'a\r\n.txt', content: '' }] }],
  ];
  for (const [field, body] of cases) {
    const answer = await send(h, body);
    assert.equal(answer.status, 400, field);
    assert.deepEqual(fields(answer), [field], field);
    assert.match(answer.body.problems![0]!.message, /CR, LF|address/, field);
  }
  assert.equal(h.relay.spool.size, 0);
});

test('applies the sender policy: a configured sending domain the token may use', async () => {
  const h = await relay();
  const foreign = await send(h, { ...simple, from: 'app@elsewhere.test' });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body.error, 'sender_not_allowed');
  assert.match(foreign.body.message as string, /elsewhere\.test is not a sending domain/);
  const notAllowed = await send(h, { ...simple, from: 'app@other.test' });
  assert.equal(notAllowed.status, 403, 'app1 may only send as example.com');
  assert.equal((await send(h, { ...simple, from: 'app@other.test' }, APP2)).status, 202, 'app2 may send as any configured domain');
  assert.equal((await send(h, { ...simple, from: 'app@mail.example.com' })).status, 202, 'subdomains belong to their domain');
  assert.equal(h.relay.spool.size, 2);
});

test('enforces maxRecipients and maxMessageSize: 400 and 413, the latter while the body is still arriving', async () => {
  const h = await relay({ limits: { maxRecipients: 3, maxMessageSize: '64Ki' } });
  const tooMany = await send(h, { ...simple, to: ['a@example.net', 'b@example.net'], cc: ['c@example.net'], bcc: 'd@example.net' });
  assert.equal(tooMany.status, 400);
  assert.deepEqual(fields(tooMany), ['to']);
  assert.equal((await send(h, { ...simple, to: ['a@example.net', 'A@example.net', 'b@example.net'], cc: 'c@example.net' })).status, 202, 'duplicates count once');

  // composed message over the limit although the request body is within its bound
  const big = await send(h, { ...simple, attachments: [{ filename: 'x.bin', content: Buffer.alloc(70 * 1024, 1).toString('base64') }] });
  assert.equal(big.status, 413);
  assert.equal(big.body.error, 'message_too_big');

  // declared too long: refused before reading
  const declared = await rawRequest(h, { 'content-length': String(10 * 2 ** 20) }, []);
  assert.equal(declared.status, 413);

  // chunked, never-ending: refused once the bound is passed, the connection closed, nothing buffered past it
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const streamed = await rawRequest(h, { 'transfer-encoding': 'chunked' }, Array.from({ length: 200 }, () => chunk));
  assert.equal(streamed.status, 413);
  assert.ok(streamed.sent < 200 * chunk.length, `stopped early (sent ${streamed.sent} bytes)`);
  assert.equal(h.relay.spool.size, 1);
  assert.equal((await send(h, simple)).status, 202, 'still serving');
});

/** A POST whose body is written chunk by chunk until the server answers. */
function rawRequest(h: Harness, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request(`${h.apiUrl}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${APP1}`, 'content-type': 'application/json', ...headers } }, (res) => {
      answered = true;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, sent }));
    });
    req.on('error', (err) => (answered ? undefined : reject(err)));
    req.flushHeaders();
    const pump = () => {
      while (!answered && chunks.length > 0) {
        const c = chunks.shift()!;
        sent += c.length;
        if (!req.write(c)) return req.once('drain', pump);
      }
      if (!answered && chunks.length === 0 && headers['content-length'] === undefined) req.end();
    };
    pump();
  });
}

test('answers 423 with the reason while the sending domain is paused, also when paused at run time', async () => {
  const h = await startRelay({ tokens: TOKENS, config: { domains: [{ name: 'example.com', paused: true }, { name: 'other.test' }] } });
  const paused = await send(h, simple);
  assert.equal(paused.status, 423);
  assert.equal(paused.body.error, 'domain_paused');
  assert.match(paused.body.message as string, /example\.com is paused/);
  assert.equal((await send(h, { ...simple, from: 'a@other.test' }, APP2)).status, 202);

  const raw = parseYaml(readFileSync(h.configPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(h.configPath, stringify({ ...raw, domains: [{ name: 'example.com' }, { name: 'other.test', paused: true }] }));
  await waitFor('config reload', async () => (await send(h, { ...simple, from: 'a@other.test' }, APP2)).status === 423);
  assert.equal((await send(h, simple)).status, 202, 'example.com resumed');
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_messages_rejected_total\{listener="http",reason="domain_paused"\}/) >= 2, true);
});

test('answers 503 with Retry-After while the spool has too little free space', async () => {
  const dir = await tempDir();
  const h = await startRelay({ dir, tokens: TOKENS, config: { domains: DOMAINS, queue: { dir: join(dir, 'spool'), minFreeSpace: '1000Ti' } } });
  const full = await send(h, simple);
  assert.equal(full.status, 503);
  assert.equal(full.body.error, 'spool_full');
  assert.equal(full.headers.get('retry-after'), '30');
  assert.equal(h.relay.spool.size, 0);
});

test('Idempotency-Key: a retry returns the first result and queues nothing, also after a restart; a different body is 422', async () => {
  let h = await relay();
  const first = await send(h, simple, APP1, { 'idempotency-key': 'order-42' });
  assert.equal(first.status, 202);
  const again = await send(h, simple, APP1, { 'idempotency-key': 'order-42' });
  assert.deepEqual(again.body, first.body);
  assert.equal(again.status, 202);
  assert.equal(h.relay.spool.size, 1);

  // concurrent duplicates wait for the first
  const burst = await Promise.all(Array.from({ length: 5 }, () => send(h, simple, APP1, { 'idempotency-key': 'order-43' })));
  assert.equal(new Set(burst.map((b) => b.body.id)).size, 1);
  assert.equal(h.relay.spool.size, 2);

  const changed = await send(h, { ...simple, subject: 'other' }, APP1, { 'idempotency-key': 'order-42' });
  assert.equal(changed.status, 422);
  assert.equal(changed.body.error, 'idempotency_key_reused');
  // keys are per token
  const otherToken = await send(h, simple, APP2, { 'idempotency-key': 'order-42' });
  assert.equal(otherToken.status, 202);
  assert.notEqual(otherToken.body.id, first.body.id);
  // a refused request is not remembered: fixing it and retrying with the same key works
  assert.equal((await send(h, { ...simple, from: 'x@elsewhere.test' }, APP1, { 'idempotency-key': 'order-44' })).status, 403);
  const fixed = await send(h, simple, APP1, { 'idempotency-key': 'order-44' });
  assert.equal(fixed.status, 202);
  assert.equal((await send(h, simple, APP1, { 'idempotency-key': 'bad key' })).status, 400);
  const size = h.relay.spool.size;

  h = await h.restart();
  const afterRestart = await send(h, simple, APP1, { 'idempotency-key': 'order-42' });
  assert.deepEqual(afterRestart.body, first.body);
  assert.equal((await send(h, simple, APP1, { 'idempotency-key': 'order-44' })).body.id, fixed.body.id);
  assert.equal((await send(h, { ...simple, text: 'x' }, APP1, { 'idempotency-key': 'order-42' })).status, 422);
  assert.equal(h.relay.spool.size, size, 'nothing new queued after the restart');
});

test('POST /v1/messages/raw queues an RFC 5322 message with its envelope, as text or base64', async () => {
  const h = await relay();
  const message = 'From: App <app@example.com>\nTo: user@example.net\nSubject: raw\n\nline one\nline two\n';
  const text = await call(h, 'POST', '/v1/messages/raw', { token: APP1, body: { from: 'bounces@example.com', to: ['user@example.net', 'second@example.net'], message } });
  assert.equal(text.status, 202, JSON.stringify(text.body));
  const id = text.body.id as string;
  const body = await bodyOf(h, id);
  assert.match(body, /^Received: from unknown \(\[127\.0\.0\.1\]\)\r\n\tby relay\.test \(mail-relay\)\r\n\twith HTTP id /);
  assert.match(body, new RegExp(`\r\nMessage-ID: <${id.toLowerCase()}@relay\\.test>\r\nDate: `, 'i'));
  assert.ok(body.endsWith('From: App <app@example.com>\r\nTo: user@example.net\r\nSubject: raw\r\n\r\nline one\r\nline two\r\n'), 'bare LF normalised to CRLF');
  const meta = h.relay.spool.get(id)!.meta;
  assert.equal(meta.from, 'bounces@example.com');
  assert.deepEqual(meta.recipients.map((r) => r.address), ['user@example.net', 'second@example.net']);
  assert.equal(meta.headerFromDomain, 'example.com');

  const withIds = 'Message-ID: <own@example.com>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nFrom: app@example.com\r\n\r\n\xe9t\xe9\r\n';
  const b64 = await call(h, 'POST', '/v1/messages/raw', { token: APP1, body: { from: 'app@example.com', to: ['user@example.net'], messageBase64: Buffer.from(withIds, 'latin1').toString('base64') } });
  assert.equal(b64.status, 202);
  const stored = await bodyOf(h, b64.body.id as string);
  assert.equal(stored.match(/^Message-ID:/gim)?.length, 1, 'no second Message-ID');
  assert.ok(stored.endsWith(withIds), '8-bit bytes kept as sent');

  const invalid = await call(h, 'POST', '/v1/messages/raw', { token: APP1, body: { from: 'app@example.com', to: [], message: 'x', messageBase64: 'eA==' } });
  assert.equal(invalid.status, 400);
  assert.deepEqual(fields(invalid), ['message', 'to']);
  const nul = await call(h, 'POST', '/v1/messages/raw', { token: APP1, body: { from: 'app@example.com', to: ['u@example.net'], message: 'Subject: x\r\n\r\na\u0000b' } });
  assert.equal(nul.status, 400);
  assert.equal(nul.body.error, 'invalid_message');
  const policy = await call(h, 'POST', '/v1/messages/raw', { token: APP1, body: { from: 'app@elsewhere.test', to: ['u@example.net'], message: 'Subject: x\r\n\r\nx' } });
  assert.equal(policy.status, 403);
  assert.equal(h.relay.spool.size, 2);
});

test('GET /v1/messages/{id} follows a message to delivered, and a refused one to bounced with the reply; only for the token that sent it', async () => {
  const mx = await startMxServer('127.0.0.1', 0, {
    onRcpt: (address) => (address.startsWith('nobody@') ? { code: 550, text: '5.1.1 no such user' } : undefined),
  });
  const h = await relay({ delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: mx.port, tls: 'none' } } });
  const ok = await send(h, { ...simple, to: 'user@example.net' });
  assert.equal(ok.status, 202);
  const okId = ok.body.id as string;
  await waitFor('delivered', async () => (await call(h, 'GET', `/v1/messages/${okId}`, { token: APP1 })).body.state === 'finished');
  const delivered = await call(h, 'GET', `/v1/messages/${okId}`, { token: APP1 });
  assert.equal(delivered.status, 200);
  assert.equal(delivered.body.id, okId);
  const [rcpt] = delivered.body.recipients as Array<{ recipient: string; state: string; reply: string }>;
  assert.equal(rcpt!.recipient, 'user@example.net');
  assert.equal(rcpt!.state, 'delivered');
  assert.match(rcpt!.reply, /^250/);
  assert.ok(mx.messages.some((m) => m.body.toString().includes(`Message-ID: <${okId.toLowerCase()}@relay.test>`)), 'the MX got it');

  const bad = await send(h, { ...simple, to: ['nobody@example.net', 'other@example.net'] });
  const badId = bad.body.id as string;
  await waitFor('bounced', async () => (await call(h, 'GET', `/v1/messages/${badId}`, { token: APP1 })).body.state === 'finished');
  const bounced = (await call(h, 'GET', `/v1/messages/${badId}`, { token: APP1 })).body.recipients as Array<{ recipient: string; state: string; reply: string }>;
  assert.deepEqual(bounced.map((r) => [r.recipient, r.state]), [['nobody@example.net', 'bounced'], ['other@example.net', 'delivered']]);
  assert.match(bounced[0]!.reply, /^550 5\.1\.1 no such user/);

  assert.equal((await call(h, 'GET', `/v1/messages/${okId}`, { token: APP2 })).status, 404, 'another token does not see it');
  assert.equal((await call(h, 'GET', '/v1/messages/0000000000000000', { token: APP1 })).status, 404);

  // the record outlives the spool entry and the process
  assert.equal(h.relay.spool.get(badId), undefined, 'the message has left the spool');
  const before = await call(h, 'GET', `/v1/messages/${badId}`, { token: APP1 });
  const restarted = await h.restart();
  const again = await call(restarted, 'GET', `/v1/messages/${badId}`, { token: APP1 });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body, before.body);
});

test('GET /v1/messages/{id} shows queued, then deferred with the last reply while the next hop is down', async () => {
  // the harness's smarthost is port 1 on loopback: nothing listens, every attempt is deferred
  const h = await relay();
  const sent = await send(h, simple);
  const id = sent.body.id as string;
  const first = await call(h, 'GET', `/v1/messages/${id}`, { token: APP1 });
  assert.equal(first.body.state, 'queued');
  await waitFor('deferred', async () => ((await call(h, 'GET', `/v1/messages/${id}`, { token: APP1 })).body.recipients as Array<{ state: string }>)[0]!.state === 'deferred');
  const deferred = (await call(h, 'GET', `/v1/messages/${id}`, { token: APP1 })).body.recipients as Array<{ state: string; reply: string }>;
  assert.ok(deferred[0]!.reply.length > 0, 'the reason is given');
});

test('clients that send garbage or vanish mid-body do not disturb the relay', async () => {
  const h = await relay();
  const port = Number(new URL(h.apiUrl).port);
  const exchange = (bytes: string, end: boolean) =>
    new Promise<string>((resolve) => {
      let got = '';
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(bytes);
        if (end) socket.end();
        else setTimeout(() => socket.destroy(), 50);
      });
      socket.on('data', (d) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', () => undefined);
    });
  assert.match(await exchange('NOT HTTP AT ALL\r\n\r\n', true), /^HTTP\/1\.1 400/);
  const head = `POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${APP1}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"from":`;
  assert.equal(await exchange(head, false), '', 'cut off mid-body: no answer to nobody');
  assert.equal((await send(h, simple)).status, 202);
  assert.equal(h.relay.spool.size, 1);
});

test('on shutdown a request already being received is still queued and answered; new ones are refused', async () => {
  const h = await relay();
  const body = Buffer.from(JSON.stringify(simple));
  let status = 0;
  let answer = '';
  const req = request(`${h.apiUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${APP1}`, 'content-type': 'application/json', 'content-length': String(body.length) },
  });
  const answered = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (d) => (answer += d));
      res.on('end', resolve);
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, 10));
  await new Promise((r) => setTimeout(r, 100));
  const stopping = h.relay.stop(5000);
  await new Promise((r) => setTimeout(r, 100));
  await assert.rejects(fetch(`${h.apiUrl}/v1/openapi.json`), 'no new connections');
  req.end(body.subarray(10));
  await answered;
  await stopping;
  assert.equal(status, 202, answer);
  const id = (JSON.parse(answer) as { id: string }).id;
  const restarted = await h.restart();
  assert.ok(restarted.relay.spool.get(id), 'the acknowledged message is in the spool after the restart');
});

test('a token manages the reputation of the domains it may send for, subdomains included, and no others', async () => {
  const h = await relay();
  const own = await call(h, 'GET', '/v1/domains/example.com/reputation', { token: APP1 });
  assert.equal(own.status, 200);
  const sub = await call(h, 'GET', '/v1/domains/mail.example.com/reputation', { token: APP1 });
  assert.notEqual(sub.status, 403, 'mail.example.com is sent as under example.com, so it is managed under it too');
  const other = await call(h, 'GET', '/v1/domains/other.test/reputation', { token: APP1 });
  assert.equal(other.status, 403);
  assert.equal(other.body.error, 'forbidden');
});

test('a multi-megabyte attachment is accepted (202, not 500) and a huge bad recipient list gets a small 400', async () => {
  const h = await relay();
  const content = Buffer.alloc(5 * 2 ** 20, 3);
  const big = await send(h, { ...simple, attachments: [{ filename: 'big.bin', content: content.toString('base64') }] });
  assert.equal(big.status, 202);
  assert.ok((await bodyOf(h, big.body.id as string)).length > content.length);

  const bad = await fetch(`${h.apiUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${APP1}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...simple, to: Array.from({ length: 300_000 }, (_, i) => `nobody-${i}`) }),
  });
  assert.equal(bad.status, 400);
  const text = await bad.text();
  assert.ok(text.length < 4096, `${text.length} bytes answered`);
  const answer = JSON.parse(text) as { message: string; problems: unknown[] };
  assert.equal(answer.problems.length, 20);
  assert.equal(answer.message, 'the request has 300000 invalid field(s) (the first 20 listed)');
  const trace = await send(h, { ...simple, headers: { 'Authentication-Results': 'mx.example.net; dkim=pass', 'ARC-Seal': 'i=1; cv=none' } });
  assert.equal(trace.status, 400);
  assert.deepEqual(fields(trace), ['headers.ARC-Seal', 'headers.Authentication-Results']);
});

test('parallel large request bodies beyond the body budget are all answered, in turn', async () => {
  // bodies of 1.6 MiB (past the 1 MiB that skips the budget); 45 of them pass its 64 MiB floor
  const h = await relay({ limits: { maxMessageSize: '2Mi' } });
  const content = Buffer.alloc(1200 * 1024, 5).toString('base64');
  const answers = await Promise.all(Array.from({ length: 45 }, () => send(h, { ...simple, attachments: [{ filename: 'x.bin', content }] })));
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [202]);
  assert.equal(h.relay.spool.size, 45);
});
