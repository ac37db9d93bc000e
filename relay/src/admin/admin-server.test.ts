import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { startMxServer, type MxServer } from '../../../test/helpers/mx-server.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { adminRequest, type AdminEndpoint } from './admin-client.ts';

const TOKEN = 'admin-token-0123456789abcdef';

type View = { id: string; state: string; adminHold: boolean; attempts: number; from: string; recipients: Array<{ address: string; status: string; lastReply?: string }>; body?: string };

async function relayWithAdmin(sink: MxServer, extra: Record<string, unknown> = {}, dir?: string) {
  const base = dir ?? (await tempDir());
  const tokenFile = join(base, 'admin.token');
  writeFileSync(tokenFile, `${TOKEN}\n`);
  return startRelay({
    dir: base,
    config: {
      trustedNetworks: ['127.0.0.0/8'],
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
      queue: { dir: join(base, 'spool'), retrySchedule: ['1h'] },
      admin: { address: '127.0.0.1', port: 0, tokenFile },
      ...extra,
    },
  });
}

function socketOf(h: Harness): AdminEndpoint {
  return { socket: join(h.dir, 'spool', 'admin.sock') };
}

async function call(h: Harness, method: string, path: string) {
  return adminRequest(socketOf(h), method, path);
}

async function submit(h: Harness, mail: Record<string, unknown> = {}): Promise<string> {
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: h.port('plain'), ignoreTLS: true }).sendMail({
    from: 'app@example.com',
    to: 'user@example.net',
    subject: 'queued for the admin test',
    text: 'hello',
    ...mail,
  });
  return /queued as (\w+)/.exec(info.response)![1]!;
}

/** A sink that defers every recipient whose address starts with `defer`. */
function deferring(address: string) {
  return address.startsWith('defer') ? { code: 451, text: '4.7.1 try later' } : undefined;
}

async function deferred(h: Harness, id: string): Promise<void> {
  await waitFor(`deferral of ${id}`, () => (h.relay.spool.get(id)?.meta.attempts ?? 0) > 0 && !h.relay.spool.get(id)!.leased);
}

test('lists the queue filtered by sender domain, recipient domain, age and state, a bounded page at a time', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const h = await relayWithAdmin(sink);
  const old = await submit(h, { to: 'defer@example.net' });
  await deferred(h, old);
  await new Promise((r) => setTimeout(r, 1100));
  const other = await submit(h, { from: 'news@other.org', to: 'defer@example.org' });
  const third = await submit(h, { to: 'defer-2@example.org' });
  await deferred(h, other);
  await deferred(h, third);
  assert.equal((await call(h, 'POST', `/v1/queue/${third}/hold`)).status, 200);

  const ids = async (query: string) => ((await call(h, 'GET', `/v1/queue${query}`)).body.messages as View[]).map((m) => m.id);
  assert.deepEqual(await ids(''), [old, other, third]);
  assert.deepEqual(await ids('?domain=other.org'), [other]);
  assert.deepEqual(await ids('?domain=EXAMPLE.com'), [old, third]);
  assert.deepEqual(await ids('?recipientDomain=example.org'), [other, third]);
  assert.deepEqual(await ids('?minAge=1s'), [old]);
  assert.deepEqual(await ids('?state=held'), [third]);
  assert.deepEqual(await ids('?state=deferred'), [old, other]);
  assert.deepEqual(await ids('?state=ready'), []);
  assert.deepEqual(await ids('?domain=example.com&recipientDomain=example.org'), [third]);

  const first = await call(h, 'GET', '/v1/queue?limit=2');
  assert.deepEqual((first.body.messages as View[]).map((m) => m.id), [old, other]);
  assert.equal(first.body.nextCursor, other);
  const second = await call(h, 'GET', `/v1/queue?limit=2&cursor=${other}`);
  assert.deepEqual((second.body.messages as View[]).map((m) => m.id), [third]);
  assert.equal(second.body.nextCursor, undefined, 'the last page has no cursor');
});

test('show gives metadata and per-recipient state; the body only with body=1 and only over the socket', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const h = await relayWithAdmin(sink);
  const id = await submit(h, { to: ['defer@example.net', 'ok@example.net'] });
  await deferred(h, id);
  const shown = await call(h, 'GET', `/v1/queue/${id}`);
  assert.equal(shown.status, 200);
  const view = shown.body as unknown as View & { nextAttemptAt: string; expiresAt: string };
  assert.equal(view.from, 'app@example.com');
  assert.equal(view.state, 'deferred');
  assert.equal(view.attempts, 1);
  assert.deepEqual(
    view.recipients.map((r) => [r.address, r.status]),
    [
      ['defer@example.net', 'pending'],
      ['ok@example.net', 'delivered'],
    ],
  );
  assert.match(view.recipients[0]!.lastReply!, /451 4\.7\.1 try later/);
  assert.ok(Date.parse(view.nextAttemptAt) > Date.now() + 30 * 60_000, 'next attempt an hour out');
  assert.ok(Date.parse(view.expiresAt) > Date.now() + 4 * 86_400_000, 'expires after queue.maxAge (5 days)');
  assert.equal(view.body, undefined);

  const withBody = await call(h, 'GET', `/v1/queue/${id}?body=1`);
  assert.match(Buffer.from(withBody.body.body as string, 'base64').toString(), /Subject: queued for the admin test/);
  const tcp = await adminRequest({ host: '127.0.0.1', port: h.relay.admin!.tcpPort!, token: TOKEN }, 'GET', `/v1/queue/${id}?body=1`);
  assert.equal(tcp.status, 403);
  assert.equal(tcp.body.error, 'body_socket_only');
});

test('an admin hold survives a restart of the relay, and release makes the message due', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const dir = await tempDir();
  const first = await relayWithAdmin(sink, { queue: { dir: join(dir, 'spool'), retrySchedule: ['200ms'] } }, dir);
  const id = await submit(first, { to: 'defer@example.net' });
  await deferred(first, id);
  const held = await call(first, 'POST', `/v1/queue/${id}/hold`);
  assert.deepEqual(held.body, { id, action: 'hold', adminHold: true });

  const second = await first.restart();
  const after = await call(second, 'GET', `/v1/queue/${id}`);
  assert.equal(after.body.state, 'held');
  assert.equal(after.body.adminHold, true);
  sink.behaviour = {};
  const attempts = sink.attempts.length;
  await new Promise((r) => setTimeout(r, 800)); // four retry steps of 200 ms
  assert.equal(sink.attempts.length, attempts, 'a held message is not attempted');
  assert.equal(sink.messages.length, 0);

  const released = await call(second, 'POST', `/v1/queue/${id}/release`);
  assert.equal(released.status, 200);
  await waitFor('delivery after release', () => sink.messages.length === 1 && second.relay.spool.size === 0);
});

test('retry delivers a deferred message now instead of at its next attempt', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const h = await relayWithAdmin(sink);
  const id = await submit(h, { to: 'defer@example.net' });
  await deferred(h, id);
  sink.behaviour = {};
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sink.messages.length, 0, 'not retried on its own within the hour');
  const retried = await call(h, 'POST', `/v1/queue/${id}/retry`);
  assert.equal(retried.status, 200);
  await waitFor('delivery after retry', () => sink.messages.length === 1 && h.relay.spool.size === 0, 5000);
  assert.deepEqual(sink.messages[0]!.to, ['defer@example.net']);
});

test('delete removes the message and its body file from disk, and a restart does not bring it back', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const dir = await tempDir();
  const h = await relayWithAdmin(sink, {}, dir);
  const large = await submit(h, { to: 'defer@example.net', text: 'x'.repeat(400 * 1024) }); // over inlineLimit: a file in large/
  const inline = await submit(h, { to: 'defer@example.net' }); // its body is in a segment
  await deferred(h, large);
  await deferred(h, inline);
  const bodyFile = join(dir, 'spool', 'large', `${large}.eml`);
  assert.ok(existsSync(bodyFile), 'sanity: the body is a file');
  for (const id of [large, inline]) {
    const deleted = await call(h, 'DELETE', `/v1/queue/${id}`);
    assert.deepEqual(deleted.body, { id, action: 'delete', deleted: true });
    assert.equal((await call(h, 'GET', `/v1/queue/${id}`)).status, 404);
  }
  assert.match(await (await fetch(h.metricsUrl)).text(), /mailrelay_queue_admin_actions_total\{action="delete"\} 2/);
  await waitFor('body file removed', () => !existsSync(bodyFile));
  const again = await h.restart();
  assert.equal(again.relay.spool.size, 0, 'neither message is replayed');
  assert.deepEqual(readdirSync(join(dir, 'spool', 'corrupt')), [], 'and nothing was taken for corruption');
});

test('bounce sends the sender one DSN, which the sink receives, and removes the message', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const h = await relayWithAdmin(sink);
  const id = await submit(h, { to: ['defer@example.net', 'defer-too@example.org'] });
  await deferred(h, id);
  const bounced = await call(h, 'POST', `/v1/queue/${id}/bounce`);
  assert.deepEqual(bounced.body, { id, action: 'bounce', bounced: 2 });
  await waitFor('the DSN at the sink', () => sink.messages.some((m) => m.from === ''));
  const dsn = sink.messages.find((m) => m.from === '')!;
  assert.deepEqual(dsn.to, ['app@example.com']);
  const text = dsn.body.toString();
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status/);
  assert.match(text, /Final-Recipient: rfc822; defer@example\.net\r\nAction: failed\r\nStatus: 5\.0\.0/);
  assert.match(text, /Final-Recipient: rfc822; defer-too@example\.org/);
  assert.match(text, new RegExp(`X-Mail-Relay-Queue-ID: ${id}`));
  assert.equal(h.relay.spool.get(id), undefined);
  assert.match(await (await fetch(h.metricsUrl)).text(), /mailrelay_messages_bounced_total\{domain="none",provider="other",type="admin"\} 2/);
});

test('a null-sender message is bounced without a DSN', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const h = await relayWithAdmin(sink);
  const id = await submit(h, { envelope: { from: '', to: 'defer@example.net' } });
  await deferred(h, id);
  assert.equal((await call(h, 'POST', `/v1/queue/${id}/bounce`)).status, 200);
  assert.equal(h.relay.spool.size, 0, 'no DSN queued for the null sender');
});

test('actions on a filter act on at most limit messages and say whether more match', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: deferring });
  const h = await relayWithAdmin(sink);
  const ids = [await submit(h, { to: 'defer@example.net' }), await submit(h, { to: 'defer@example.net' }), await submit(h, { to: 'defer@example.org' })];
  for (const id of ids) await deferred(h, id);
  const first = await call(h, 'POST', '/v1/queue/hold?recipientDomain=example.net&limit=1');
  assert.deepEqual(first.body, { action: 'hold', count: 1, ids: [ids[0]], skipped: [], more: true });
  const rest = await call(h, 'POST', '/v1/queue/hold?recipientDomain=example.net&state=deferred');
  assert.deepEqual(rest.body, { action: 'hold', count: 1, ids: [ids[1]], skipped: [], more: false });
  assert.equal((await call(h, 'GET', `/v1/queue/${ids[2]}`)).body.state, 'deferred', 'the other domain is untouched');
  const none = await call(h, 'POST', '/v1/queue/release');
  assert.equal(none.status, 400);
  assert.match(none.body.message as string, /at least one filter/);
});

test('an action on a message in a delivery attempt answers 409 and changes nothing', async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onData: () => 'stall' });
  const h = await relayWithAdmin(sink);
  const id = await submit(h);
  await waitFor('the attempt in progress', () => h.relay.spool.get(id)?.leased === true && sink.attempts.length > 0);
  for (const [method, path] of [
    ['POST', `/v1/queue/${id}/hold`],
    ['DELETE', `/v1/queue/${id}`],
    ['POST', `/v1/queue/${id}/bounce`],
  ] as const) {
    const r = await call(h, method, path);
    assert.equal(r.status, 409, path);
    assert.equal(r.body.error, 'active');
  }
  assert.equal((await call(h, 'GET', `/v1/queue/${id}`)).body.adminHold, false);
});

test('the admin socket is mode 0600 and the TCP listener refuses a missing or wrong token with 401', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  const h = await relayWithAdmin(sink);
  const socket = join(h.dir, 'spool', 'admin.sock');
  assert.ok(statSync(socket).isSocket());
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  const port = h.relay.admin!.tcpPort!;
  const none = await adminRequest({ host: '127.0.0.1', port }, 'GET', '/v1/queue');
  assert.equal(none.status, 401);
  assert.equal(none.body.error, 'unauthorized');
  const wrong = await adminRequest({ host: '127.0.0.1', port, token: `${TOKEN}x` }, 'GET', '/v1/queue');
  assert.equal(wrong.status, 401);
  const right = await adminRequest({ host: '127.0.0.1', port, token: TOKEN }, 'GET', '/v1/queue');
  assert.equal(right.status, 200);
  assert.deepEqual(right.body, { messages: [] });
});

test('bad input gets 400 or 404 with a clear message, and the API keeps serving', async () => {
  const sink = await startMxServer('127.0.0.1', 0);
  const h = await relayWithAdmin(sink);
  const cases: Array<[string, string, number, RegExp]> = [
    ['GET', '/v1/queue?limit=0', 400, /limit: must be a whole number from 1 to 1000/],
    ['GET', '/v1/queue?limit=5000', 400, /limit: must be a whole number/],
    ['GET', '/v1/queue?state=stuck', 400, /state: must be one of ready, deferred, held/],
    ['GET', '/v1/queue?minAge=soon', 400, /minAge: must be a duration/],
    ['GET', '/v1/queue?domain=not%20a%20domain&surprise=1', 400, /surprise: unknown parameter; domain: must be a domain name/],
    ['GET', '/v1/queue?cursor=abc', 400, /cursor: must be a queue id/],
    ['GET', '/v1/queue?state=held&state=ready', 400, /state: must be given once/],
    ['GET', '/v1/queue/not-an-id', 400, /a queue id is 16 characters/],
    ['GET', '/v1/queue/0000000000000000', 404, /is not in the queue/],
    ['POST', '/v1/queue/0000000000000000/hold', 404, /is not in the queue/],
    ['POST', '/v1/queue/0000000000000000/explode', 404, /no such route/],
    ['PUT', '/v1/queue', 405, /use GET/],
    ['GET', '/v2/anything', 404, /no such route/],
  ];
  for (const [method, path, status, message] of cases) {
    const r = await call(h, method, path);
    assert.equal(r.status, status, `${method} ${path}`);
    assert.match(r.body.message as string, message, `${method} ${path}`);
  }
  assert.equal((await call(h, 'GET', '/v1/queue')).status, 200);
});
