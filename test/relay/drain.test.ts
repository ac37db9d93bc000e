import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { adminRequest } from '../../relay/src/admin/admin-client.ts';
import { postHandoff } from '../../relay/src/admin/handoff-client.ts';
import { encodeFrame } from '../../relay/src/admin/handoff-wire.ts';
import { loadOriginId } from '../../relay/src/admin/origin-id.ts';
import { startRelay, type Harness } from '../helpers/relay-harness.ts';
import { startMxServer, type MxServer } from '../helpers/mx-server.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const TOKEN = 'drain-test-token-0123456789';

async function relay(sink: MxServer, dir?: string): Promise<Harness> {
  const base = dir ?? (await tempDir());
  const tokenFile = join(base, 'admin.token');
  writeFileSync(tokenFile, TOKEN);
  return startRelay({
    dir: base,
    config: {
      trustedNetworks: ['127.0.0.0/8'],
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
      queue: { dir: join(base, 'spool'), retrySchedule: ['1h'] },
      admin: { address: '127.0.0.1', port: 0, tokenFile },
    },
  });
}

function admin(h: Harness) {
  return { host: '127.0.0.1', port: h.relay.admin!.tcpPort!, token: TOKEN };
}

async function adminJson(h: Harness, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${h.relay.admin!.tcpPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function submit(h: Harness, to: string[], text: string): Promise<string> {
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: h.port('plain'), ignoreTLS: true }).sendMail({ from: 'app@example.com', to, subject: 'drain', text });
  return /queued as (\w+)/.exec(info.response)![1]!;
}

function deferring(): Promise<MxServer> {
  return startMxServer('127.0.0.1', 0, { onRcpt: (a) => (a.startsWith('defer') ? { code: 451, text: '4.7.1 try later' } : undefined) });
}

test('a drain hands every message to the peers with its schedule, recipients states and admin hold, then the pod takes no mail', async () => {
  const sink = await deferring();
  const [a, b, c] = [await relay(sink), await relay(sink), await relay(sink)];
  const ids: string[] = [];
  for (let i = 0; i < 40; i++) ids.push(await submit(a, [`ok${i}@example.net`, `defer${i}@example.net`], `message ${i}`));
  await waitFor('first attempts', () => ids.every((id) => (a.relay.spool.get(id)?.meta.attempts ?? 0) > 0 && !a.relay.spool.get(id)!.leased));
  const held = ids.slice(0, 5);
  for (const id of held) assert.equal((await adminJson(a, 'POST', `/v1/queue/${id}/hold`)).status, 200);
  const before = new Map(ids.map((id) => [id, a.relay.spool.get(id)!.meta]));
  const bodies = new Map(await Promise.all(ids.map(async (id) => [id, await a.relay.spool.readBody(a.relay.spool.get(id)!)] as const)));
  const delivered = sink.messages.length;

  assert.deepEqual((await adminJson(a, 'GET', '/v1/drain')).body.state, 'idle');
  const started = await adminJson(a, 'POST', '/v1/drain', { targets: [b, c].map((h) => ({ address: `127.0.0.1:${admin(h).port}` })) });
  assert.equal(started.status, 202, JSON.stringify(started.body));
  await waitFor('drained', async () => (await adminJson(a, 'GET', '/v1/drain')).body.state === 'drained');
  const status = (await adminJson(a, 'GET', '/v1/drain')).body;
  assert.equal(status.left, 0);
  assert.equal(status.handedOff, ids.length);
  assert.equal(a.relay.spool.size, 0);

  // every message is on exactly one peer, with what it had here
  for (const id of ids) {
    const on = [b, c].filter((h) => h.relay.spool.get(id));
    assert.equal(on.length, 1, `${id} on one peer`);
    const entry = on[0]!.relay.spool.get(id)!;
    const was = before.get(id)!;
    assert.deepEqual(entry.meta.recipients, was.recipients, id);
    assert.equal(entry.meta.attempts, was.attempts);
    assert.equal(entry.meta.nextAttemptAt, was.nextAttemptAt);
    assert.equal(entry.meta.createdAt, was.createdAt);
    assert.equal(entry.meta.signingDomain, was.signingDomain);
    assert.deepEqual(entry.meta.origin, was.origin);
    assert.equal(entry.meta.adminHold === true, held.includes(id), `${id} admin hold`);
    assert.deepEqual(await on[0]!.relay.spool.readBody(entry), bodies.get(id));
  }
  assert.ok(b.relay.spool.size > 0 && c.relay.spool.size > 0, 'both peers took a share');
  assert.equal(sink.messages.length, delivered, 'a deferred message is not attempted again before its time');

  // the drained pod is out of the Service and its SMTP listener is closed
  assert.equal((await fetch(`${a.metricsUrl.replace('/metrics', '/readyz')}`)).status, 503);
  await assert.rejects(
    new Promise((resolve, reject) => {
      const s = connect(a.port('plain'), '127.0.0.1', () => resolve(s.destroy()));
      s.on('error', reject);
    }),
    /ECONNREFUSED/,
  );
  // a draining pod takes no handoff itself
  const refused = await postHandoff(admin(a), encodeFrame('someoneelse00001', before.get(ids[0]!)!, bodies.get(ids[0]!)!), 5000).catch((e: Error) => e.message);
  assert.match(String(refused), /409/);

  // the peers deliver what was pending, once, and only to the recipients still pending
  sink.behaviour = {};
  for (const h of [b, c]) {
    const r = await adminJson(h, 'POST', '/v1/queue/release?state=held&limit=1000');
    assert.equal(r.status, 200);
    const retry = await adminJson(h, 'POST', '/v1/queue/retry?state=deferred&limit=1000');
    assert.equal(retry.status, 200);
  }
  await waitFor('delivered by the peers', () => b.relay.spool.size + c.relay.spool.size === 0);
  const late = sink.messages.slice(delivered);
  assert.deepEqual(late.flatMap((m) => m.to).sort(), ids.map((_, i) => `defer${i}@example.net`).sort());
});

test('a retried handoff is acknowledged as a duplicate and adds nothing; a pod refuses its own messages', async () => {
  const sink = await deferring();
  const [a, b] = [await relay(sink), await relay(sink)];
  const id = await submit(a, ['defer@example.net'], 'once');
  await waitFor('first attempt', () => (a.relay.spool.get(id)?.meta.attempts ?? 0) > 0 && !a.relay.spool.get(id)!.leased);
  const entry = a.relay.spool.get(id)!;
  const frame = encodeFrame('origin0000000001', entry.meta, await a.relay.spool.readBody(entry));
  const first = await postHandoff(admin(b), frame, 5000);
  assert.deepEqual(first, [{ handoff: `origin0000000001/${id}`, id, duplicate: false }]);
  const again = await postHandoff(admin(b), [...frame, ...frame], 5000);
  assert.deepEqual(again.map((m) => m.duplicate), [true, true]);
  assert.equal(b.relay.spool.size, 1);

  // after the peer delivered it, a retry still finds the handoff record, across a restart
  const b2 = await b.restart();
  sink.behaviour = {};
  assert.equal((await adminJson(b2, 'POST', `/v1/queue/${id}/retry`)).status, 200);
  await waitFor('delivered', () => b2.relay.spool.size === 0);
  const late = await postHandoff(admin(b2), frame, 5000);
  assert.deepEqual(late.map((m) => m.duplicate), [true]);
  assert.equal(b2.relay.spool.size, 0);
  assert.equal(sink.messages.filter((m) => m.to.includes('defer@example.net')).length, 1);

  const own = await loadOriginId(join(b2.dir, 'spool'));
  const self = await postHandoff(admin(b2), encodeFrame(own, entry.meta, Buffer.from('x')), 5000).catch((e: Error) => e.message);
  assert.match(String(self), /400.*drain to itself/);
  const bad = await postHandoff(admin(b2), [Buffer.from('{"v":1}\n')], 5000).catch((e: Error) => e.message);
  assert.match(String(bad), /400.*bad_frame/);
  const unauthorized = await postHandoff({ ...admin(b2), token: 'wrong-token-0123456789' }, frame, 5000).catch((e: Error) => e.message);
  assert.match(String(unauthorized), /401/);
});

test('a drain request is checked, and needs the admin TCP listener of the peers', async () => {
  const sink = await deferring();
  const a = await relay(sink);
  const r = await adminJson(a, 'POST', '/v1/drain', { targets: [{ address: 'no-port' }] });
  assert.equal(r.status, 400);
  assert.match(String(r.body.message), /targets\[0\]\.address: must be host:port/);
  const listed = await adminRequest({ socket: join(a.dir, 'spool', 'admin.sock') }, 'GET', '/v1/drain');
  assert.equal(listed.body.state, 'idle');
});
