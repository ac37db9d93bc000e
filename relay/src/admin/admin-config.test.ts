import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/parse-config.ts';
import { configProblems } from '../config/config-problems.ts';

const minimal = {
  hostname: 'relay.example.com',
  listeners: [{ name: 'smtp', port: 2525 }],
  queue: { dir: '/var/spool/mail-relay/' },
};

const problems = (admin: unknown): string[] => configProblems({ ...minimal, admin });

test('without the admin key there is no admin API; admin: {} serves the socket <queue.dir>/admin.sock only', () => {
  assert.equal(parseConfig(minimal).admin, undefined);
  assert.deepEqual(parseConfig({ ...minimal, admin: {} }).admin, { socket: '/var/spool/mail-relay/admin.sock' });
  assert.deepEqual(parseConfig({ ...minimal, admin: { socket: '/run/relay/admin.sock' } }).admin, { socket: '/run/relay/admin.sock' });
});

test('the admin TCP listener needs a port and a tokenFile; the address defaults to every interface', () => {
  assert.deepEqual(parseConfig({ ...minimal, admin: { port: 8025, tokenFile: '/etc/relay/admin-token' } }).admin, {
    socket: '/var/spool/mail-relay/admin.sock',
    tcp: { address: '0.0.0.0', port: 8025, tokenFile: '/etc/relay/admin-token' },
  });
  assert.deepEqual(problems({ port: 8025 }), ['admin.tokenFile: is required with port: the TCP listener takes only a bearer token']);
  assert.deepEqual(problems({ address: '127.0.0.1', tokenFile: '/t' }), ['admin.address: needs port (the TCP listener)', 'admin.tokenFile: needs port (the TCP listener)']);
  assert.deepEqual(problems({ port: 8025, tokenFile: '/t', address: 'localhost' }), ['admin.address: must be an IP address']);
});

test('admin refuses a socket path too long for a Unix socket and unknown keys', () => {
  assert.deepEqual(problems({ socket: `/${'s'.repeat(120)}` }), ['admin.socket: must be at most 100 bytes long (a Unix socket path)']);
  assert.match(problems({ sockett: '/x' }).join('\n'), /admin\.sockett: unknown key/);
});
