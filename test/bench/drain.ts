/**
 * How fast a scale-down drain hands a queue over, against how fast the same pod delivers it.
 *
 *   node --import tsx test/bench/drain.ts [--messages 10000] [--body 2048]
 *
 * Three relays run in this process (spools in temp dirs, admin TCP on loopback with one token).
 * A sink (smtp-server) first defers every recipient, so what relay A receives stays queued.
 *  1. Baseline: A is filled with N messages; the sink starts accepting and A's queue is made due
 *     (admin retry): messages/s from then until A's queue is empty = A's delivery rate to a sink.
 *  2. Drain: A is filled with N messages again (the sink defers again); `POST /v1/drain` towards
 *     B and C: messages/s until A reports `drained`, every message fsynced on B or C.
 * Printed: both rates and their ratio (drain / delivery). Both include the fsyncs of each side.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SMTPServer } from 'smtp-server';
import { parseConfig } from '../../relay/src/config/parse-config.ts';
import { Relay } from '../../relay/src/relay.ts';
import { createLogger } from '../../relay/src/log.ts';
import { sendLoad } from '../helpers/smtp-load.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '10000' }, body: { type: 'string', default: '2048' } } });
const count = Number(values.messages);
const bodySize = Number(values.body);
const TOKEN = 'bench-drain-token-0123456789';

const root = mkdtempSync(join(tmpdir(), 'drain-bench-'));
let accepting = false;
let delivered = 0;
const sink = new SMTPServer({
  logger: false,
  disabledCommands: ['AUTH', 'STARTTLS'],
  onRcptTo(_address, _session, callback) {
    if (accepting) return callback();
    return callback(Object.assign(new Error('4.7.1 later'), { responseCode: 451 }));
  },
  onData(stream, _session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      delivered++;
      callback();
    });
  },
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkPort = (sink.server.address() as { port: number }).port;
const logger = createLogger('error', true);

async function start(name: string): Promise<Relay> {
  const dir = join(root, name);
  const tokenFile = join(root, `${name}.token`);
  writeFileSync(tokenFile, TOKEN);
  const config = parseConfig({
    hostname: `${name}.bench`,
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0, tls: 'none', auth: 'none' }],
    trustedNetworks: ['127.0.0.1/32'],
    queue: { dir, minFreeSpace: 0, retrySchedule: ['1h'] },
    delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sinkPort, tls: 'none' } },
    metrics: { address: '127.0.0.1', port: 0 },
    admin: { address: '127.0.0.1', port: 0, tokenFile },
  });
  return Relay.start(config, { logger, users: [] });
}

async function admin(relay: Relay, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`http://127.0.0.1:${relay.admin!.tcpPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return (await res.json()) as Record<string, unknown>;
}

async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 600_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Fills the relay with `count` messages and waits until each had its (deferred) first attempt. */
async function fill(relay: Relay): Promise<void> {
  const { acknowledged } = await sendLoad({ port: relay.smtpPorts.get('plain')!, concurrency: 16, maxMessages: count, bodySize });
  if (acknowledged.length !== count) throw new Error(`only ${acknowledged.length} of ${count} acknowledged`);
  await until(() => relay.spool.stats().deferred === count, 'first attempts');
}

const a = await start('a');
const [b, c] = [await start('b'), await start('c')];
try {
  await fill(a);
  accepting = true;
  const deliveryStart = performance.now();
  while (a.spool.stats().deferred > 0) await admin(a, 'POST', '/v1/queue/retry?state=deferred&limit=1000');
  await until(() => a.spool.size === 0, 'delivery');
  const deliveryRate = count / ((performance.now() - deliveryStart) / 1000);

  accepting = false;
  await fill(a);
  const drainStart = performance.now();
  await admin(a, 'POST', '/v1/drain', { targets: [b, c].map((r) => ({ address: `127.0.0.1:${r.admin!.tcpPort}` })) });
  await until(async () => (await admin(a, 'GET', '/v1/drain')).state === 'drained', 'drain');
  const drainRate = count / ((performance.now() - drainStart) / 1000);
  if (b.spool.size + c.spool.size !== count) throw new Error(`peers hold ${b.spool.size + c.spool.size} of ${count}`);

  console.log(`messages: ${count} of ${bodySize} bytes; delivered to the sink: ${delivered}`);
  console.log(`delivery, one pod to a sink:  ${deliveryRate.toFixed(0)} msg/s`);
  console.log(`drain, one pod to two peers:  ${drainRate.toFixed(0)} msg/s (B ${b.spool.size}, C ${c.spool.size})`);
  console.log(`ratio drain / delivery:       ${(drainRate / deliveryRate).toFixed(2)}`);
} finally {
  for (const r of [a, b, c]) await r.stop(100);
  sink.close();
  rmSync(root, { recursive: true, force: true });
}
