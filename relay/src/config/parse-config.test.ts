import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configProblems } from './config-problems.ts';
import { parseConfig, parseResolver } from './parse-config.ts';
import { parseDuration, parseSize } from './units.ts';
import { NetworkList, parseCidr } from './cidr.ts';

const minimal = {
  hostname: 'relay.example.com',
  listeners: [{ name: 'smtp', port: 2525 }],
  queue: { dir: '/tmp/spool' },
};

const problems = configProblems;

test('a minimal config gets the documented defaults and is frozen', () => {
  const config = parseConfig(minimal);
  assert.deepEqual(config.listeners[0], { name: 'smtp', address: '0.0.0.0', port: 2525, tls: 'none', auth: 'none', submission: true });
  assert.equal(config.limits.maxMessageSize, 25 * 1024 * 1024);
  assert.equal(config.limits.maxRecipients, 100);
  assert.deepEqual(config.queue.retrySchedule, [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000]);
  assert.equal(config.queue.maxAge, 5 * 86_400_000);
  assert.equal(config.delivery.mode, 'mx');
  assert.equal(config.delivery.perDestination.maxConnections, 10);
  assert.deepEqual(config.metrics, { address: '0.0.0.0', port: 9090 });
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.listeners[0]) && Object.isFrozen(config.queue.retrySchedule));
});

test('the DESIGN.md example parses', () => {
  const config = parseConfig({
    hostname: 'relay.example.com',
    listeners: [{ name: 'submission', address: '0.0.0.0', port: 587, tls: 'starttls', auth: 'required' }],
    tls: { certFile: '/etc/mail-relay/tls/tls.crt', keyFile: '/etc/mail-relay/tls/tls.key', minVersion: 'TLSv1.2' },
    trustedNetworks: ['10.0.0.0/8'],
    usersFile: '/etc/mail-relay/users/users.yaml',
    limits: { maxMessageSize: '25Mi', maxRecipients: 100, maxConnections: 1000 },
    queue: { dir: '/var/spool/mail-relay', retrySchedule: ['1m', '5m', '15m', '30m', '1h', '2h', '4h'], maxAge: '5d' },
    delivery: {
      mode: 'smarthost',
      smarthost: { host: 'smtp.upstream', port: 587, tls: 'starttls', username: 'u', passwordFile: '/etc/pw' },
      resolvers: ['10.96.0.10', '127.0.0.1:5353'],
      port: 25,
      maxConnections: 200,
      perDestination: { maxConnections: 10, maxMessagesPerSecond: 0 },
    },
    domains: [
      {
        name: 'Example.com',
        dkim: { selector: 'mr202611', privateKeyFile: '/etc/mail-relay/dkim/example.com/tls.key' },
        paused: false,
        reputation: { maxBounceRate: 0.1, maxComplaintRate: 0.003, minVolume: 100, pauseOnBreach: true },
      },
    ],
    http: { address: '0.0.0.0', port: 8080, tokensFile: '/etc/mail-relay/api/tokens.yaml' },
    metrics: { address: '0.0.0.0', port: 9090 },
  });
  assert.equal(config.domains[0]!.name, 'example.com');
  assert.equal(config.domains[0]!.dkim!.algorithm, 'rsa-sha256');
  assert.equal(config.delivery.smarthost!.host, 'smtp.upstream');
});

test('every problem is reported at once, with its path', () => {
  const found = problems({
    hostname: 'relay.example.com',
    listeners: [
      { name: 'a', port: 25 },
      { name: 'b', port: 587, tls: 'sometimes', auth: 'required' },
      { name: 'a', port: 99999 },
    ],
    trustedNetworks: ['10.0.0.0/33', 'fd00::/8'],
    limits: { maxMessageSize: 'huge' },
    queue: { dir: '/q', retrySchedule: ['1m', 'soon'], maxAge: 5 },
    delivery: { mode: 'smarthost' },
    domains: [{ name: 'example.com', colour: 'blue' }],
    extra: true,
  });
  for (const expected of [
    'listeners[1].tls: must be one of none, starttls, implicit',
    'listeners[1].auth: required needs tls starttls or implicit: passwords never travel in clear',
    'listeners[1].auth: required needs usersFile',
    'listeners[2].port: must be an integer between 0 and 65535',
    'listeners[2].name: duplicates listener a',
    'trustedNetworks[0]: must be an IPv4 or IPv6 address or CIDR',
    'limits.maxMessageSize: must be a size such as 25Mi, 512Ki or a number of bytes',
    'queue.retrySchedule[1]: must be a duration such as 30s, 5m, 4h or 5d',
    'queue.maxAge: must be a duration such as 30s, 5m, 4h or 5d',
    'delivery.smarthost: is required when mode is smarthost',
    'domains[0].colour: unknown key',
    'extra: unknown key',
  ]) {
    assert.ok(found.includes(expected), `missing "${expected}" in:\n${found.join('\n')}`);
  }
  assert.equal(found.length, 12, found.join('\n'));
});

test('TLS listeners need certificates; a non-mapping is refused', () => {
  assert.deepEqual(problems({ ...minimal, listeners: [{ name: 's', port: 465, tls: 'implicit' }] }), [
    'listeners[0].tls: implicit needs the top-level tls section (certFile, keyFile)',
  ]);
  assert.deepEqual(problems('hello'), ['the configuration must be a YAML mapping']);
  assert.deepEqual(problems({ ...minimal, hostname: undefined }), ['hostname: is required']);
});

test('durations and sizes', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('5d'), 432_000_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('5'), undefined);
  assert.equal(parseDuration('-1s'), undefined);
  assert.equal(parseSize('25Mi'), 26_214_400);
  assert.equal(parseSize('512Ki'), 524_288);
  assert.equal(parseSize('1G'), 1e9);
  assert.equal(parseSize(1000), 1000);
  assert.equal(parseSize('12 parsecs'), undefined);
});

test('trusted networks match IPv4, IPv6 and IPv4-mapped IPv6 clients', () => {
  const list = new NetworkList(['10.0.0.0/8', 'fd00::/8', '192.0.2.7']);
  assert.equal(list.contains('10.1.2.3'), true);
  assert.equal(list.contains('::ffff:10.1.2.3'), true);
  assert.equal(list.contains('11.0.0.1'), false);
  assert.equal(list.contains('fd12::1'), true);
  assert.equal(list.contains('fe80::1'), false);
  assert.equal(list.contains('192.0.2.7'), true);
  assert.equal(list.contains('192.0.2.8'), false);
  assert.equal(new NetworkList([]).contains('127.0.0.1'), false);
  assert.equal(parseCidr('::/0')?.prefix, 0);
  assert.equal(parseCidr('1.2.3.4/8/9'), undefined);
});

test('resolver addresses', () => {
  assert.deepEqual(parseResolver('10.96.0.10'), { host: '10.96.0.10', port: 53 });
  assert.deepEqual(parseResolver('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353 });
  assert.deepEqual(parseResolver('[::1]:5353'), { host: '::1', port: 5353 });
  assert.deepEqual(parseResolver('::1'), { host: '::1', port: 53 });
  assert.equal(parseResolver('dns.example:53'), undefined);
});

test('reputation, feedback and suppression defaults: configs without the new keys stay valid', () => {
  const config = parseConfig({ ...minimal, domains: [{ name: 'example.com' }] });
  assert.deepEqual(config.domains[0]!.reputation, { maxBounceRate: 0.1, maxComplaintRate: 0.003, minVolume: 100, pauseOnBreach: true });
  assert.deepEqual(config.feedback, {});
  assert.deepEqual(config.suppression, { expiry: 30 * 86_400_000 });
});

test('feedback, suppression expiry and resumeBefore parse; addresses and domains are lower-cased', () => {
  const config = parseConfig({
    ...minimal,
    domains: [{ name: 'example.com', reputation: { resumeBefore: '2026-11-28T18:00:00Z' } }],
    feedback: { verpDomain: 'Bounces.Example.com', verpKeyFile: '/etc/mail-relay/verp/key', complaintAddress: 'FBL@example.com' },
    suppression: { expiry: '7d' },
  });
  assert.deepEqual(config.feedback, { verpDomain: 'bounces.example.com', verpKeyFile: '/etc/mail-relay/verp/key', complaintAddress: 'fbl@example.com' });
  assert.equal(config.suppression.expiry, 7 * 86_400_000);
  assert.equal(config.domains[0]!.reputation.resumeBefore, Date.UTC(2026, 10, 28, 18));
});

test('bad feedback and suppression settings are each reported', () => {
  assert.deepEqual(
    problems({
      ...minimal,
      domains: [{ name: 'example.com', reputation: { resumeBefore: 'yesterday' } }],
      feedback: { verpDomain: 'example.com', complaintAddress: 'not an address', extra: 1 },
      suppression: { expiry: 'forever' },
    }),
    [
      'domains[0].reputation.resumeBefore: must be an RFC 3339 time such as 2026-11-28T18:00:00Z',
      'feedback.complaintAddress: must be an address user@domain',
      'feedback.extra: unknown key',
      'suppression.expiry: must be a duration such as 30s, 5m, 4h or 5d',
      'feedback.verpDomain: must not be a sending domain itself (use a subdomain such as bounces.example.com)',
    ],
  );
  assert.deepEqual(problems({ ...minimal, feedback: { verpKeyFile: '/k', complaintAddress: 'fbl@bounces.example.com', verpDomain: 'bounces.example.com' } }), [
    'feedback.complaintAddress: must not be at verpDomain (that domain only takes VERP addresses)',
  ]);
  assert.deepEqual(problems({ ...minimal, feedback: { verpKeyFile: '/k' } }), ['feedback.verpKeyFile: needs verpDomain']);
});

test('listener names http and dsn are reserved for the HTTP API and DSNs', () => {
  assert.deepEqual(problems({ ...minimal, listeners: [{ name: 'http', port: 25 }, { name: 'dsn', port: 26 }] }), [
    'listeners[0].name: http is reserved',
    'listeners[1].name: dsn is reserved',
  ]);
});
