import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRelayProcess, writeConfig } from '../helpers/relay-process.ts';
import { sendLoad } from '../helpers/smtp-load.ts';
import { startMxServer } from '../helpers/mx-server.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test('SIGKILL during delivery under load: every acknowledged message is delivered after restart', { timeout: 180_000 }, async () => {
  const dir = await tempDir();
  // a slow receiver behind two connections: delivery lags acceptance, so the kill finds mail queued and in flight
  const sink = await startMxServer('127.0.0.1', 0, { dataDelayMs: 5 });
  const config = writeConfig(dir, {
    hostname: 'relay.test',
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0 }],
    trustedNetworks: ['127.0.0.0/8'],
    queue: { dir: join(dir, 'spool'), retrySchedule: ['200ms'] },
    delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' }, perDestination: { maxConnections: 2 } },
    metrics: { address: '127.0.0.1', port: 0 },
  });
  const deliveredIds = () => {
    const counts = new Map<string, number>();
    for (const m of sink.messages) {
      const id = /with ESMTP id ([0-9A-Z]{16})/.exec(m.body.toString('latin1'))?.[1];
      if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  };

  const relay = await startRelayProcess(config);
  let killed = false;
  const load = sendLoad({ port: relay.ports.plain!, concurrency: 20, maxMessages: 4000, bodySize: 2048, stop: () => killed });
  const received = async () => {
    const text = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
    return Number(/^mailrelay_messages_received_total\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
  };
  const deadline = Date.now() + 60_000;
  while (((await received().catch(() => 0)) < 1200 || sink.messages.length < 100) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  relay.child.kill('SIGKILL');
  killed = true;
  await relay.exited;
  const { acknowledged } = await load;
  const beforeRestart = sink.messages.length;
  assert.ok(acknowledged.length >= 1000, `only ${acknowledged.length} acknowledged`);
  assert.ok(beforeRestart >= 100 && beforeRestart < acknowledged.length, `killed mid-delivery (${beforeRestart} of ${acknowledged.length} delivered)`);

  const restarted = await startRelayProcess(config);
  const end = Date.now() + 90_000;
  let missing = acknowledged;
  while (Date.now() < end) {
    const seen = deliveredIds();
    missing = acknowledged.filter((id) => !seen.has(id));
    if (missing.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(missing.length, 0, `${missing.length} acknowledged messages never delivered`);
  const duplicates = [...deliveredIds().values()].filter((n) => n > 1).length;
  // only transactions in flight at the kill (2 connections, plus results not yet fsynced) may repeat
  assert.ok(duplicates <= 10, `${duplicates} messages delivered twice`);
  restarted.child.kill('SIGTERM');
  assert.equal(await restarted.exited, 0);
  console.log(`delivery crash: ${acknowledged.length} acknowledged, ${beforeRestart} delivered before the kill, ${duplicates} duplicates`);
});
