import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configProblems } from './config-problems.ts';
import { DEFAULT_TLS_CIPHERS, parseConfig } from './parse-config.ts';

const withTls = (tls: Record<string, unknown>) => ({
  hostname: 'relay.example.com',
  listeners: [{ name: 'smtps', port: 465, tls: 'implicit' }],
  tls: { certFile: '/tls.crt', keyFile: '/tls.key', ...tls },
  queue: { dir: '/tmp/spool' },
});

const problems = configProblems;

test('tls.ciphers defaults to forward-secret AEAD suites only', () => {
  const { ciphers } = parseConfig(withTls({})).tls!;
  assert.equal(ciphers, DEFAULT_TLS_CIPHERS);
  for (const suite of ciphers.split(':')) assert.match(suite, /^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$|^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
});

test('tls.ciphers takes an OpenSSL cipher list and refuses one OpenSSL does not accept', () => {
  assert.equal(parseConfig(withTls({ ciphers: 'TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256' })).tls!.ciphers, 'TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256');
  const found = problems(withTls({ ciphers: 'NO-SUCH-CIPHER' }));
  assert.equal(found.length, 1);
  assert.match(found[0]!, /^tls\.ciphers: is not a cipher list OpenSSL accepts/);
});

test('the fair-share limits have defaults and refuse nonsense', () => {
  const { limits } = parseConfig(withTls({}));
  assert.equal(limits.maxConnectionsPerClient, 50);
  assert.equal(limits.maxConnectionRatePerClient, 300);
  assert.equal(limits.maxErrorsPerSession, 10);
  const found = problems({ ...withTls({}), limits: { maxConnectionsPerClient: 0, maxConnectionRatePerClient: -1, maxErrorsPerSession: 1.5 } });
  assert.deepEqual(
    found.map((p) => p.split(':')[0]),
    ['limits.maxConnectionsPerClient', 'limits.maxConnectionRatePerClient', 'limits.maxErrorsPerSession'],
  );
});
