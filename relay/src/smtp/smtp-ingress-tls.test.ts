import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { RawSmtp } from '../../../test/helpers/raw-smtp.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

/** An RSA certificate: static-RSA key exchange needs one, the harness's certificates are ECDSA. */
async function rsaCertificate(): Promise<{ certFile: string; keyFile: string }> {
  const dir = await tempDir();
  const keyFile = join(dir, 'rsa.key');
  const certFile = join(dir, 'rsa.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost'], {
    stdio: 'pipe',
  });
  return { certFile, keyFile };
}

/** Result of a TLS 1.2 handshake with the implicit-TLS listener offering only `ciphers`. */
function handshake(h: Harness, options: ConnectionOptions): Promise<{ ok: true; cipher: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ port: h.port('smtps'), host: '127.0.0.1', rejectUnauthorized: false, ...options }, () => {
      resolve({ ok: true, cipher: socket.getCipher().standardName });
      socket.destroy();
    });
    socket.once('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

/** Waits for a socket to close; resolves false if it is still open after `ms`. */
function closesWithin(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Asks for a renegotiation; whether it completes is told by the connection closing or not. */
function startRenegotiation(socket: TLSSocket): void {
  assert.equal(
    socket.renegotiate({}, () => undefined),
    true,
    'the client starts a renegotiation',
  );
}

test('TLS 1.2 clients offering only static-RSA or CBC-SHA1 suites fail the handshake; ECDHE AES-GCM works', async () => {
  const h = await startRelay({ config: { tls: await rsaCertificate() } });
  for (const ciphers of ['AES128-SHA', 'AES256-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA']) {
    const result = await handshake(h, { maxVersion: 'TLSv1.2', ciphers });
    assert.equal(result.ok, false, `${ciphers} is refused`);
  }
  const good = await handshake(h, { maxVersion: 'TLSv1.2' });
  assert.deepEqual(good, { ok: true, cipher: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384' }, "the server's order of preference wins");
  const modern = await handshake(h, {});
  assert.equal(modern.ok && modern.cipher, 'TLS_AES_256_GCM_SHA384');
});

test('tls.ciphers replaces the default suites', async () => {
  const h = await startRelay({ config: { tls: { ...(await rsaCertificate()), ciphers: 'TLS_AES_128_GCM_SHA256:ECDHE-RSA-CHACHA20-POLY1305' } } });
  assert.deepEqual(await handshake(h, { maxVersion: 'TLSv1.2' }), { ok: true, cipher: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256' });
  assert.equal((await handshake(h, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' })).ok, false);
});

test('a client renegotiation on implicit TLS ends the connection', async () => {
  const h = await startRelay();
  const socket = tlsConnect({ port: h.port('smtps'), host: '127.0.0.1', ca: h.certs.ca, servername: 'localhost', maxVersion: 'TLSv1.2' });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('data', () => resolve())); // greeting
  const closed = closesWithin(socket, 3000);
  startRenegotiation(socket);
  assert.equal(await closed, true, 'the server closed the connection');
  const after = await RawSmtp.connect(h.port('smtps'), { implicitTls: true, ca: h.certs.ca });
  assert.match(await after.command('NOOP'), /^250/, 'the relay goes on serving');
  after.close();
});

test('a client renegotiation after STARTTLS ends the connection', async () => {
  const h = await startRelay();
  const plain = netConnect({ port: h.port('relay'), host: '127.0.0.1' });
  let received = '';
  const waitFor = (pattern: RegExp) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (pattern.test(received)) {
          plain.off('data', onData);
          resolve();
        }
      };
      const onData = (d: Buffer) => {
        received += d.toString('latin1');
        check();
      };
      plain.on('data', onData);
      check();
    });
  await waitFor(/^220 .*\r\n/)
  plain.write('EHLO client.test\r\n');
  await waitFor(/250 [^\r]*\r\n$/);
  plain.write('STARTTLS\r\n');
  await waitFor(/220 [^\r]*\r\n$/);
  const secure = tlsConnect({ socket: plain, ca: h.certs.ca, servername: 'localhost', maxVersion: 'TLSv1.2' });
  secure.on('error', () => undefined);
  await new Promise<void>((resolve) => secure.once('secureConnect', () => resolve()));
  secure.write('NOOP\r\n');
  await new Promise<void>((resolve) => secure.once('data', () => resolve()));
  const closed = closesWithin(secure, 3000);
  startRenegotiation(secure);
  assert.equal(await closed, true, 'the server closed the connection');
});
