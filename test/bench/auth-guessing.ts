/**
 * Submission latency and event-loop delay while parallel connections guess passwords.
 *
 *   node --import tsx test/bench/auth-guessing.ts [--seconds 15] [--guessers 20] [--one-address]
 *
 * One relay runs in this process (spool in a temp dir, delivery to a closed port). A trusted
 * client submits messages one after another over the plain listener and times each
 * transaction (MAIL to 250 after the spool's fsync); meanwhile `guessers` connections, each
 * from its own loopback address (or all from one with --one-address), send wrong AUTH PLAIN passwords over implicit TLS as fast as
 * the relay answers, reconnecting when closed. Printed: latency p50/p99/max and the event-loop
 * delay (perf_hooks.monitorEventLoopDelay) without and with the guessers, and guesses answered.
 * The clients share the process with the relay, so the figures include their own work.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connect as tlsConnect } from 'node:tls';
import { connect as netConnect } from 'node:net';
import { parseConfig } from '../../relay/src/config/parse-config.ts';
import { hashPassword } from '../../relay/src/config/password.ts';
import { Relay } from '../../relay/src/relay.ts';
import { createLogger } from '../../relay/src/log.ts';
import { RawSmtp } from '../helpers/raw-smtp.ts';
import { makeCertificates } from '../helpers/certs.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '15' }, guessers: { type: 'string', default: '20' }, 'one-address': { type: 'boolean', default: false } },
});
const seconds = Number(values.seconds);
const guessers = Number(values.guessers);

const dir = mkdtempSync(join(tmpdir(), 'auth-guessing-'));
const certs = makeCertificates(dir);
const users = [{ username: 'app1', passwordHash: await hashPassword('the right password'), allowedSenderDomains: [] }];
writeFileSync(join(dir, 'users.yaml'), '[]');
const config = parseConfig({
  hostname: 'relay.bench',
  listeners: [
    { name: 'plain', address: '127.0.0.1', port: 0, tls: 'none', auth: 'none' },
    { name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', auth: 'optional' },
  ],
  tls: { certFile: certs.certFile, keyFile: certs.keyFile },
  trustedNetworks: ['127.0.0.1/32'],
  usersFile: join(dir, 'users.yaml'),
  queue: { dir: join(dir, 'spool'), minFreeSpace: 0 },
  delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: 1, tls: 'none' } },
  metrics: { address: '127.0.0.1', port: 0 },
});
const relay = await Relay.start(config, { logger: createLogger('error', true), users });
const plainPort = relay.smtpPorts.get('plain')!;
const smtpsPort = relay.smtpPorts.get('smtps')!;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function submitFor(ms: number): Promise<number[]> {
  const c = await RawSmtp.connect(plainPort);
  await c.command('EHLO bench.test');
  const latencies: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const start = performance.now();
    // a stalled spool can take seconds to answer: wait for it, that is what is measured
    const command = (line: string) => {
      c.write(`${line}\r\n`);
      return c.reply(60_000);
    };
    await command('MAIL FROM:<app@example.com>');
    await command('RCPT TO:<user@example.net>');
    await command('DATA');
    const reply = await command(`Subject: bench\r\n\r\n${'x'.repeat(2000)}\r\n.`);
    if (!reply.startsWith('250')) throw new Error(`submission refused: ${reply}`);
    latencies.push(performance.now() - start);
  }
  c.close();
  return latencies;
}

let stopGuessing = false;
let guesses = 0;
let deferred = 0;
let refusedConnections = 0;
/** A minimal client for the guessers: RawSmtp cannot pick its source address. */
function guesserConnection(n: number): Promise<{ command(line: string): Promise<string>; close(): void }> {
  return new Promise((resolve, reject) => {
    const raw = netConnect({ port: smtpsPort, host: '127.0.0.1', localAddress: values['one-address'] ? '127.0.1.1' : `127.0.1.${n + 1}` });
    raw.on('error', (err) => reject(err));
    const socket = tlsConnect({ socket: raw, ca: certs.ca, servername: 'localhost' });
    let buffer = '';
    let waiter: ((reply: string) => void) | undefined;
    const next = () => {
      const match = /(?:^|\n)(\d{3}) [^\n]*\r\n/.exec(buffer);
      if (match && waiter) {
        const reply = buffer.slice(match.index === 0 ? 0 : match.index + 1, match.index + match[0].length).trim();
        buffer = buffer.slice(match.index + match[0].length);
        const w = waiter;
        waiter = undefined;
        w(reply);
      }
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buffer += d;
      next();
    });
    socket.on('close', () => waiter?.('CLOSED'));
    socket.on('error', (err) => reject(err));
    const command = (line: string) =>
      new Promise<string>((res) => {
        if (socket.destroyed) return res('CLOSED');
        waiter = res;
        if (line) socket.write(`${line}\r\n`);
        next();
      });
    socket.once('secureConnect', () => {
      command('').then((greeting) => (greeting.startsWith('220') ? resolve({ command, close: () => socket.destroy() }) : reject(new Error(greeting))));
    });
  });
}

async function guess(n: number): Promise<void> {
  const token = Buffer.from(`\0app1\0wrong-${n}`).toString('base64');
  while (!stopGuessing) {
    let c: Awaited<ReturnType<typeof guesserConnection>>;
    try {
      c = await guesserConnection(n);
    } catch {
      refusedConnections++;
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    await c.command('EHLO guesser.test');
    while (!stopGuessing) {
      const reply = await c.command(`AUTH PLAIN ${token}`);
      if (reply.startsWith('CLOSED') || reply.startsWith('421')) break;
      if (reply.startsWith('535')) guesses++;
      else deferred++;
    }
    c.close();
  }
}

function measure<T>(work: () => Promise<T>): Promise<{ result: T; loop: { p50: number; p99: number; max: number } }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  return work().then((result) => {
    h.disable();
    const ms = (v: number) => Math.round(v / 1e5) / 10;
    return { result, loop: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) } };
  });
}

function report(label: string, latencies: number[], loop: { p50: number; p99: number; max: number }): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  const f = (v: number) => v.toFixed(1);
  console.log(
    `${label}: ${sorted.length} submissions, latency p50 ${f(percentile(sorted, 50))} ms, p99 ${f(percentile(sorted, 99))} ms, max ${f(sorted.at(-1) ?? NaN)} ms; event-loop delay p50 ${loop.p50} ms, p99 ${loop.p99} ms, max ${loop.max} ms`,
  );
}

try {
  const quiet = await measure(() => submitFor(seconds * 1000));
  report('no guessers', quiet.result, quiet.loop);
  const attackers = Array.from({ length: guessers }, (_, n) => guess(n));
  await new Promise((r) => setTimeout(r, 1000)); // let the guessing reach its steady state
  const before = guesses;
  const deferredBefore = deferred;
  const loaded = await measure(() => submitFor(seconds * 1000));
  const answered = guesses - before;
  const throttled = deferred - deferredBefore;
  stopGuessing = true;
  report(`${guessers} guessers`, loaded.result, loaded.loop);
  console.log(
    `while measuring: ${answered} guesses checked and refused with 535 (${(answered / seconds).toFixed(1)}/s), ${throttled} answered 454 without a check; guesser connects refused: ${refusedConnections}`,
  );
  await Promise.race([Promise.all(attackers), new Promise((r) => setTimeout(r, 10_000))]);
} finally {
  await relay.stop(100);
  rmSync(dir, { recursive: true, force: true });
}
