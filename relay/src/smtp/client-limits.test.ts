import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientLimits, clientKey, decideClientAdmission } from './client-limits.ts';

const settings = { maxConnectionsPerClient: 2, maxConnectionRatePerClient: 3 };

test('IPv6 clients are counted per /64, IPv4-mapped ones as IPv4', () => {
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0db8:0001:0002::9'), '2001:db8:1:2::/64', 'leading zeros do not make another client');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(clientKey('64:ff9b:1:2:3:4:192.0.2.1'), '64:ff9b:1:2::/64');
  assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
});

test('a client beyond its connection count or rate is refused; trusted clients skip only the rate', () => {
  assert.equal(decideClientAdmission({ open: 2, tokens: 5, rateExempt: true, settings }), 'too_many_client_connections');
  assert.equal(decideClientAdmission({ open: 0, tokens: 0.5, rateExempt: false, settings }), 'client_connection_rate');
  assert.equal(decideClientAdmission({ open: 0, tokens: 0.5, rateExempt: true, settings }), 'accept');
  assert.equal(decideClientAdmission({ open: 1, tokens: 1, rateExempt: false, settings }), 'accept');
  assert.equal(decideClientAdmission({ open: 0, tokens: 0, rateExempt: false, settings: { ...settings, maxConnectionRatePerClient: 0 } }), 'accept', '0 = no rate limit');
});

test('the rate bucket refills over a minute and released connections free their slot', () => {
  const limits = new ClientLimits(settings);
  const t0 = 1_000_000;
  for (let i = 0; i < 3; i++) {
    assert.equal(limits.admit('a', false, t0), 'accept');
    limits.release('a');
  }
  assert.equal(limits.admit('a', false, t0), 'client_connection_rate');
  assert.equal(limits.admit('b', false, t0), 'accept', 'another client has its own share');
  assert.equal(limits.admit('a', false, t0 + 20_000), 'accept', 'one connection per 20 s at 3/min');
  assert.equal(limits.admit('a', false, t0 + 20_000), 'client_connection_rate');
  assert.equal(limits.admit('a', true, t0 + 20_000), 'accept', 'exempt from the rate, the count is still below 2');
  assert.equal(limits.admit('a', true, t0 + 20_000), 'too_many_client_connections');
  limits.release('a');
  assert.equal(limits.admit('a', true, t0 + 20_000), 'accept');
});

test('the rate table stays bounded when many addresses connect', () => {
  const limits = new ClientLimits(settings, 100);
  for (let i = 0; i < 10_000; i++) {
    limits.admit(`10.0.${i >> 8}.${i & 255}`, false, 1_000 + i);
    limits.release(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(limits.tracked <= 100);
  }
});
