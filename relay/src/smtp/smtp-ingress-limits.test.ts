import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { RawSmtp } from '../../../test/helpers/raw-smtp.ts';
import { scrapeSum } from '../../../test/helpers/scrape.ts';

/** Opens a connection from `localAddress` and returns its socket with the first reply. */
async function greet(port: number, localAddress = '127.0.0.1'): Promise<{ socket: Socket; greeting: string }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  const greeting = await new Promise<string>((resolve, reject) => {
    socket.once('data', (d) => resolve(d.toString('latin1').trim()));
    socket.once('error', reject);
  });
  return { socket, greeting };
}

async function readyz(h: Harness): Promise<number> {
  return (await fetch(h.metricsUrl.replace('/metrics', '/readyz'))).status;
}

test('one client address gets at most maxConnectionsPerClient connections: 421 4.7.0 beyond, other clients still served', async () => {
  const h = await startRelay({ config: { limits: { maxConnections: 10, maxConnectionsPerClient: 2 } } });
  const a = await greet(h.port('plain'));
  const b = await greet(h.port('plain'));
  assert.match(a.greeting, /^220 /);
  assert.match(b.greeting, /^220 /);
  const third = await greet(h.port('plain'));
  assert.equal(third.greeting, '421 4.7.0 Too many connections from your address, try again later');
  const other = await greet(h.port('plain'), '127.0.0.2');
  assert.match(other.greeting, /^220 /, 'another address has its own share');
  for (const c of [a, b, third, other]) c.socket.destroy();
  assert.equal(await scrapeSum(h.metricsUrl, /^mailrelay_messages_rejected_total\{listener="plain",reason="too_many_client_connections"\}/), 1);
});

test('connections beyond maxConnectionRatePerClient a minute get 421 4.7.0; trustedNetworks are exempt from the rate', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.2/32'], limits: { maxConnectionRatePerClient: 3 } } });
  for (let i = 0; i < 3; i++) {
    const c = await greet(h.port('plain'));
    assert.match(c.greeting, /^220 /);
    c.socket.destroy();
  }
  const over = await greet(h.port('plain'));
  assert.equal(over.greeting, '421 4.7.0 Connection rate limit exceeded for your address, try again later');
  over.socket.destroy();
  for (let i = 0; i < 6; i++) {
    const trusted = await greet(h.port('plain'), '127.0.0.2');
    assert.match(trusted.greeting, /^220 /, `trusted connection ${i + 1}`);
    trusted.socket.destroy();
  }
});

test('a session is closed with 421 4.7.0 after maxErrorsPerSession refused commands', async () => {
  const h = await startRelay({ config: { limits: { maxErrorsPerSession: 3 } } });
  const c = await RawSmtp.connect(h.port('plain'));
  await c.command('EHLO client.test');
  assert.match(await c.command('RCPT TO:<a@example.net>'), /^503/);
  assert.match(await c.command('FROB'), /^500/);
  assert.match(await c.command('NOOP'), /^250/, 'successful commands do not count');
  assert.match(await c.command('DATA'), /^503/);
  assert.equal(await c.reply(), '421 4.7.0 Too many errors, closing connection');
  assert.equal(await c.reply(), 'CLOSED');
});

test('/readyz answers 503 while the SMTP connections are at maxConnections, 200 again below', async () => {
  const h = await startRelay({ config: { limits: { maxConnections: 2 } } });
  assert.equal(await readyz(h), 200);
  const a = await RawSmtp.connect(h.port('plain'));
  assert.equal(await readyz(h), 200);
  const b = await RawSmtp.connect(h.port('plain'));
  assert.equal(await readyz(h), 503);
  b.close();
  let status = 0;
  for (let i = 0; i < 40 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 25));
    status = await readyz(h);
  }
  assert.equal(status, 200);
  a.close();
});
