import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelayProcess, writeConfig, type RelayProcess } from '../helpers/relay-process.ts';
import { sendLoad } from '../helpers/smtp-load.ts';
import { startMxServer } from '../helpers/mx-server.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const TOKEN = 'drain-crash-token-0123456789';
/** The drainer's largest batch: a kill repeats at most the batch in flight to the killed pod. */
const BATCH = 128;

interface Pod {
  readonly name: string;
  readonly config: string;
  proc: RelayProcess;
  adminPort: number;
}

async function start(name: string, config: string): Promise<Pod> {
  const proc = await startRelayProcess(config);
  return { name, config, proc, adminPort: adminPortOf(proc) };
}

function adminPortOf(proc: RelayProcess): number {
  const line = proc
    .output()
    .split('\n')
    .find((l) => l.includes('"admin API listening"'));
  return (JSON.parse(line!) as { port: number }).port;
}

async function restart(pod: Pod): Promise<void> {
  pod.proc = await startRelayProcess(pod.config);
  pod.adminPort = adminPortOf(pod.proc);
}

async function call(pod: Pod, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${pod.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

function drain(from: Pod, to: Pod[]): Promise<Record<string, unknown>> {
  return call(from, 'POST', '/v1/drain', { targets: to.map((p) => ({ address: `127.0.0.1:${p.adminPort}` })) });
}

test('SIGKILL of the draining pod or of a receiving pod at random instants, several rounds: nothing acknowledged is lost, duplicates at most the batch in flight', { timeout: 240_000 }, async () => {
  // defers everything until the end, so that every message is still queued when drained
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: () => ({ code: 451, text: '4.7.1 later' }) });
  const pods: Pod[] = [];
  for (const name of ['a', 'b', 'c']) {
    const dir = await tempDir();
    const tokenFile = join(dir, 'admin.token');
    writeFileSync(tokenFile, TOKEN);
    const config = writeConfig(dir, {
      hostname: `relay-${name}.test`,
      listeners: [{ name: 'plain', address: '127.0.0.1', port: 0 }],
      trustedNetworks: ['127.0.0.0/8'],
      queue: { dir: join(dir, 'spool'), retrySchedule: ['1h'] },
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
      metrics: { address: '127.0.0.1', port: 0 },
      admin: { address: '127.0.0.1', port: 0, tokenFile },
    });
    pods.push(await start(name, config));
  }
  const [a, b, c] = pods as [Pod, Pod, Pod];
  const { acknowledged } = await sendLoad({ port: a.proc.ports.plain!, concurrency: 8, maxMessages: 1500, bodySize: 4096 });
  assert.ok(acknowledged.length >= 1400, `only ${acknowledged.length} acknowledged`);

  let kills = 0;
  const leftAtKills: number[] = [];
  for (let round = 0; round < 4; round++) {
    await drain(a, [b, c]);
    // a random instant inside the handoff: the drain of 1500 messages takes a few hundred ms here
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
    leftAtKills.push(Number((await call(a, 'GET', '/v1/drain')).left));
    const victim = [a, b, c][round % 3]!;
    victim.proc.child.kill('SIGKILL');
    await victim.proc.exited;
    kills++;
    await restart(victim);
  }
  // the kills fell inside the handoff, not after it
  assert.ok(leftAtKills.some((n) => n > 0 && n < acknowledged.length), `left at the kills: ${leftAtKills.join(', ')}`);
  await drain(a, [b, c]);
  await waitFor('drained', async () => (await call(a, 'GET', '/v1/drain')).state === 'drained', 60_000);

  // now let the peers deliver, and count each queue id at the sink (its Received: trace header)
  sink.behaviour = {};
  for (const p of [b, c]) await call(p, 'POST', '/v1/queue/retry?state=deferred&limit=1000');
  const delivered = () => {
    const counts = new Map<string, number>();
    for (const m of sink.messages) {
      const id = /with ESMTP id ([0-9A-Z]{16})/.exec(m.body.toString('latin1'))?.[1];
      if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  };
  const deadline = Date.now() + 90_000;
  let missing = acknowledged;
  while (Date.now() < deadline) {
    const seen = delivered();
    missing = acknowledged.filter((id) => !seen.has(id));
    if (missing.length === 0) break;
    for (const p of [b, c]) await call(p, 'POST', '/v1/queue/retry?state=deferred&limit=1000').catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(missing.length, 0, `${missing.length} acknowledged messages never delivered`);
  const duplicates = [...delivered().values()].reduce((n, count) => n + count - 1, 0);
  assert.ok(duplicates <= kills * BATCH, `${duplicates} duplicates after ${kills} kills`);
  assert.equal((await call(a, 'GET', '/v1/drain')).left, 0);
});

test('a drain cancelled (DELETE /v1/drain) restarts the process, which comes back with what it still queues and takes mail again', { timeout: 60_000 }, async () => {
  const sink = await startMxServer('127.0.0.1', 0, { onRcpt: () => ({ code: 451, text: '4.7.1 later' }) });
  const dir = await tempDir();
  const tokenFile = join(dir, 'admin.token');
  writeFileSync(tokenFile, TOKEN);
  const config = writeConfig(dir, {
    hostname: 'relay-a.test',
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0 }],
    trustedNetworks: ['127.0.0.0/8'],
    queue: { dir: join(dir, 'spool'), retrySchedule: ['1h'] },
    delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
    metrics: { address: '127.0.0.1', port: 0 },
    admin: { address: '127.0.0.1', port: 0, tokenFile },
  });
  const pod = await start('a', config);
  const { acknowledged } = await sendLoad({ port: pod.proc.ports.plain!, concurrency: 2, maxMessages: 5, bodySize: 512 });
  assert.equal(acknowledged.length, 5);
  // nothing listens on port 1: the handoff keeps failing, so the messages stay
  await call(pod, 'POST', '/v1/drain', { targets: [{ address: '127.0.0.1:1' }] });
  assert.equal((await call(pod, 'GET', '/v1/drain')).state, 'draining');
  assert.deepEqual(await call(pod, 'DELETE', '/v1/drain'), { restarting: true });
  assert.equal(await pod.proc.exited, 0);
  await restart(pod);
  assert.equal((await call(pod, 'GET', '/v1/drain')).state, 'idle');
  const listed = (await call(pod, 'GET', '/v1/queue?limit=100')) as { messages: Array<{ id: string }> };
  assert.deepEqual(listed.messages.map((m) => m.id).sort(), [...acknowledged].sort());
  const again = await sendLoad({ port: pod.proc.ports.plain!, concurrency: 1, maxMessages: 1, bodySize: 512 });
  assert.equal(again.acknowledged.length, 1);
  assert.deepEqual(await call(pod, 'DELETE', '/v1/drain'), { restarting: false });
});
