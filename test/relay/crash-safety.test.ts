import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRelayProcess, writeConfig } from '../helpers/relay-process.ts';
import { sendLoad } from '../helpers/smtp-load.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { scrapeSum } from '../helpers/scrape.ts';
import { RawSmtp } from '../helpers/raw-smtp.ts';
import { scanSegment } from '../../relay/src/spool/scan-segment.ts';
import { RecordType, decodeMessagePayload } from '../../relay/src/spool/record-codec.ts';

function relayConfig(dir: string) {
  return writeConfig(dir, {
    hostname: 'relay.test',
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0 }],
    trustedNetworks: ['127.0.0.0/8'],
    queue: { dir: join(dir, 'spool') },
    delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: 1, tls: 'none' } },
    metrics: { address: '127.0.0.1', port: 0 },
  });
}

/** Every MESSAGE record id in the spool's segments, with how often it occurs. */
async function spooledIds(spoolDir: string): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const name of (await readdir(join(spoolDir, 'segments'))).sort()) {
    const { records } = scanSegment(await readFile(join(spoolDir, 'segments', name)));
    for (const r of records) {
      if (r.type !== RecordType.Message) continue;
      const id = (decodeMessagePayload(r.payload).meta as { id: string }).id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return counts;
}

function metricValue(port: number, name: RegExp): Promise<number> {
  return scrapeSum(`http://127.0.0.1:${port}/metrics`, name);
}

test('SIGKILL under concurrent load loses no acknowledged message and duplicates none', { timeout: 120_000 }, async () => {
  const dir = await tempDir();
  const config = relayConfig(dir);
  const relay = await startRelayProcess(config);
  let killed = false;
  const load = sendLoad({ port: relay.ports.plain!, concurrency: 20, maxMessages: 5000, bodySize: 2048, stop: () => killed });
  // kill once well over 1,000 messages are in, while every session is mid-stream
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const received = await metricValue(relay.metricsPort, /^mailrelay_messages_received_total/).catch(() => 0);
    if (received >= 1200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  relay.child.kill('SIGKILL');
  killed = true;
  assert.equal(await relay.exited, 'SIGKILL');
  const { acknowledged } = await load;
  assert.ok(acknowledged.length >= 1000, `only ${acknowledged.length} acknowledged before the kill`);

  const onDisk = await spooledIds(join(dir, 'spool'));
  for (const id of acknowledged) assert.equal(onDisk.get(id), 1, `acknowledged ${id} is in the spool exactly once`);

  const restarted = await startRelayProcess(config);
  const queued = await metricValue(restarted.metricsPort, /^mailrelay_queue_messages\{/);
  assert.ok(queued >= acknowledged.length, `recovered ${queued} of ${acknowledged.length}`);
  const corruptFiles = (await readdir(join(dir, 'spool', 'corrupt'))).length;
  assert.equal(await metricValue(restarted.metricsPort, /^mailrelay_spool_corrupt_total/), corruptFiles, 'every corrupt file is counted');
  restarted.child.kill('SIGTERM');
  assert.equal(await restarted.exited, 0);
});

test('SIGTERM finishes a message in DATA, refuses new connections and exits 0', { timeout: 60_000 }, async () => {
  const dir = await tempDir();
  const relay = await startRelayProcess(relayConfig(dir));
  const port = relay.ports.plain!;
  const c = await RawSmtp.connect(port);
  await c.command('EHLO client.test');
  await c.command('MAIL FROM:<a@example.com>');
  await c.command('RCPT TO:<b@example.net>');
  assert.match(await c.command('DATA'), /^354/);
  c.write('Subject: in flight\r\n\r\nfirst half\r\n');
  relay.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(RawSmtp.connect(port), /ECONNREFUSED/);
  c.write('second half\r\n');
  assert.match(await c.command('.'), /^250 2\.0\.0 Ok: queued as [0-9A-Z]{16}$/);
  c.close();
  assert.equal(await relay.exited, 0);
  const ids = await spooledIds(join(dir, 'spool'));
  assert.equal(ids.size, 1);
});
