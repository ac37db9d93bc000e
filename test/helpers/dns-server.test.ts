import assert from 'node:assert/strict';
import { promises as dns } from 'node:dns';
import { after, before, describe, it } from 'node:test';
import { startDnsServer } from './dns-server.ts';
import type { DnsServer } from './dns-server.ts';

function errorCodeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (err: NodeJS.ErrnoException) => err.code,
  );
}

describe('test DNS server', () => {
  let server: DnsServer;
  let resolver: dns.Resolver;
  const longTxt = `v=DKIM1; k=rsa; p=${'A'.repeat(700)}`;

  before(async () => {
    server = await startDnsServer({
      'example.test': {
        mx: [
          { preference: 20, exchange: 'mx2.example.test.' },
          { preference: 10, exchange: 'MX1.example.test' },
        ],
        a: ['192.0.2.10', '192.0.2.11'],
        aaaa: ['2001:db8::25', '::ffff:192.0.2.12'],
        txt: [['v=spf1 ip4:192.0.2.0/24 -all'], [longTxt], ['split', ' in two']],
      },
      'null-mx.test': { mx: [{ preference: 0, exchange: '.' }] },
      'only-a.test.': { a: ['192.0.2.20'] },
      'sel._domainkey.nested.test': { txt: [['v=DKIM1; p=']] },
      'broken.test': { fail: 'servfail' },
      'silent.test': { fail: 'timeout' },
      'a-only.dnsmasq.test': { a: ['192.0.2.30'], refuse: ['AAAA'] },
    });
    // short timeout and one try keep the "timeout" case fast
    resolver = new dns.Resolver({ timeout: 300, tries: 1 });
    resolver.setServers([server.server]);
  });
  after(() => server.close());

  it('listens on loopback on an ephemeral port', () => {
    assert.equal(server.address, '127.0.0.1');
    assert.ok(server.port > 0);
    assert.equal(server.server, `127.0.0.1:${server.port}`);
  });

  it('answers MX with preference and exchange, names case-insensitive', async () => {
    // owner names match case-insensitively; record data comes back as written (minus the final dot)
    const mx = await resolver.resolveMx('EXAMPLE.test');
    assert.deepEqual(
      mx.sort((x, y) => x.priority - y.priority),
      [
        { exchange: 'MX1.example.test', priority: 10 },
        { exchange: 'mx2.example.test', priority: 20 },
      ],
    );
  });

  it('answers A and AAAA', async () => {
    assert.deepEqual((await resolver.resolve4('example.test')).sort(), ['192.0.2.10', '192.0.2.11']);
    assert.deepEqual((await resolver.resolve6('example.test.')).sort(), ['2001:db8::25', '::ffff:192.0.2.12']);
  });

  it('splits long TXT strings into 255-byte pieces and falls back to TCP for the big answer', async () => {
    const before = server.queries.length;
    const txt = await resolver.resolveTxt('example.test');
    const joined = txt.map((chunks) => chunks.join(''));
    assert.deepEqual(joined.sort(), [longTxt, 'split in two', 'v=spf1 ip4:192.0.2.0/24 -all'].sort());
    const long = txt.find((chunks) => chunks.join('') === longTxt);
    assert.ok(long && long.length === 3 && long.every((c) => c.length <= 255), 'long record arrives as 255-byte strings');
    const asked = server.queries.slice(before);
    assert.deepEqual(
      asked.map((q) => q.transport),
      ['udp', 'tcp'],
      'the truncated UDP answer makes the resolver retry over TCP',
    );
  });

  it('returns null MX as priority 0 with an empty exchange', async () => {
    assert.deepEqual(await resolver.resolveMx('null-mx.test'), [{ exchange: '', priority: 0 }]);
  });

  it('answers NODATA (ENODATA) for a known name without the asked type', async () => {
    assert.equal(await errorCodeOf(resolver.resolveMx('only-a.test')), 'ENODATA');
    assert.deepEqual(await resolver.resolve4('only-a.test'), ['192.0.2.20']);
    // an empty non-terminal exists too
    assert.equal(await errorCodeOf(resolver.resolveTxt('_domainkey.nested.test')), 'ENODATA');
  });

  it('answers NXDOMAIN (ENOTFOUND) for unknown names', async () => {
    assert.equal(await errorCodeOf(resolver.resolveMx('unknown.test')), 'ENOTFOUND');
    assert.equal(await errorCodeOf(resolver.resolve4('mx1.example.test')), 'ENOTFOUND');
  });

  it('answers REFUSED (EREFUSED) for the query types a name refuses, and the others as usual', async () => {
    assert.equal(await errorCodeOf(resolver.resolve6('a-only.dnsmasq.test')), 'EREFUSED');
    assert.deepEqual(await resolver.resolve4('a-only.dnsmasq.test'), ['192.0.2.30']);
  });

  it('answers SERVFAIL (ESERVFAIL) for failing names', async () => {
    assert.equal(await errorCodeOf(resolver.resolveMx('broken.test')), 'ESERVFAIL');
  });

  it('stays silent for timeout names (ETIMEOUT)', async () => {
    assert.equal(await errorCodeOf(resolver.resolve4('silent.test')), 'ETIMEOUT');
  });

  it('serves changes made with set() and remove(), and records queries', async () => {
    assert.equal(await errorCodeOf(resolver.resolve4('late.test')), 'ENOTFOUND');
    server.set('Late.Test', { a: ['192.0.2.30'] });
    assert.deepEqual(await resolver.resolve4('late.test'), ['192.0.2.30']);
    server.set('late.test', { fail: 'servfail' });
    assert.equal(await errorCodeOf(resolver.resolve4('late.test')), 'ESERVFAIL');
    server.remove('late.test.');
    assert.equal(await errorCodeOf(resolver.resolve4('late.test')), 'ENOTFOUND');
    const late = server.queries.filter((q) => q.name === 'late.test');
    assert.deepEqual(
      late.map((q) => q.type),
      ['A', 'A', 'A', 'A'],
    );
  });

  it('rejects malformed records when they are set', () => {
    assert.throws(() => server.set('bad.test', { a: ['2001:db8::1'] }), /bad A address/);
    assert.throws(() => server.set('bad.test', { mx: [{ preference: -1, exchange: 'x' }] }), /bad MX preference/);
  });

  it('closes reliably, twice, with a TCP client still connected', async () => {
    const extra = await startDnsServer({ 'silent.test': { fail: 'timeout' } });
    const { connect } = await import('node:net');
    const socket = connect(extra.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await Promise.all([extra.close(), extra.close()]);
    const probe = new dns.Resolver({ timeout: 200, tries: 1 });
    probe.setServers([extra.server]);
    assert.ok(['ECONNREFUSED', 'ETIMEOUT'].includes((await errorCodeOf(probe.resolve4('silent.test'))) ?? ''));
    socket.destroy();
  });
});
