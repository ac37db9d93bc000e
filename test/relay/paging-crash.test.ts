import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRelayProcess, writeConfig } from '../helpers/relay-process.ts';
import { sendLoad } from '../helpers/smtp-load.ts';
import { startMxServer } from '../helpers/mx-server.ts';
import { tempDir } from '../helpers/temp-dir.ts';

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))) sum += Number(m[1]);
  return sum;
}

test('SIGKILL while a queue beyond the active limit pages out and in: every acknowledged message is delivered once after restart', { timeout: 180_000 }, async () => {
  const dir = await tempDir();
  // the receiver listens on 127.0.0.1 only: at 127.0.0.2 every connection is refused, so until
  // the restart points there each retry pages a message in and each deferral pages it out
  const sink = await startMxServer('127.0.0.1', 0);
  const settings = (host: string) => ({
    hostname: 'relay.test',
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0 }],
    trustedNetworks: ['127.0.0.0/8'],
    queue: { dir: join(dir, 'spool'), retrySchedule: ['200ms'], activeLimit: 40 },
    delivery: { mode: 'smarthost', smarthost: { host, port: sink.port, tls: 'none' } },
    metrics: { address: '127.0.0.1', port: 0 },
  });
  const relay = await startRelayProcess(writeConfig(dir, settings('127.0.0.2')));
  const { acknowledged } = await sendLoad({ port: relay.ports.plain!, concurrency: 10, maxMessages: 400, bodySize: 1024 });
  assert.equal(acknowledged.length, 400);
  // several rounds of retries: ten times the active limit, each message paged out and in again and again
  const deadline = Date.now() + 60_000;
  let deferred = 0;
  while ((deferred = await metric(relay.metricsPort, 'mailrelay_messages_deferred_total')) < 3 * 400 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(deferred >= 1200, `only ${deferred} deferrals before the kill`);
  relay.child.kill('SIGKILL');
  await relay.exited;
  assert.equal(sink.messages.length, 0, 'nothing was delivered before the kill');

  const restarted = await startRelayProcess(writeConfig(dir, settings('127.0.0.1')));
  const end = Date.now() + 90_000;
  const delivered = () => {
    const counts = new Map<string, number>();
    for (const m of sink.messages) {
      const id = /with ESMTP id ([0-9A-Z]{16})/.exec(m.body.toString('latin1'))?.[1];
      if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  };
  let missing = acknowledged;
  while (Date.now() < end) {
    const seen = delivered();
    missing = acknowledged.filter((id) => !seen.has(id));
    if (missing.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(missing.length, 0, `${missing.length} acknowledged messages never delivered`);
  assert.deepEqual([...delivered().values()].filter((n) => n > 1), [], 'no message delivered twice');
  assert.equal(sink.messages.length, 400);
  restarted.child.kill('SIGTERM');
  assert.equal(await restarted.exited, 0);
});
