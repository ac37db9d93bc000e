import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startDnsServer } from '../../../test/helpers/dns-server.ts';
import { RouteResolver } from './route-resolver.ts';

test('the resolver caches at most its bound of domains and hosts, however many distinct ones mail names, and still caches within the TTL', async () => {
  const dns = await startDnsServer();
  after(() => dns.close());
  let now = 1_000_000;
  const resolver = new RouteResolver([dns.server], () => now, Math.random, 50);
  for (let i = 0; i < 300; i++) {
    dns.set(`d${i}.example.net`, { mx: [{ preference: 10, exchange: `mx${i}.example.net` }] });
    dns.set(`mx${i}.example.net`, { a: ['127.0.0.1'] });
  }
  for (let i = 0; i < 300; i++) {
    const result = await resolver.resolve(`d${i}.example.net`);
    assert.equal(result.kind, 'route');
    assert.deepEqual(await resolver.addresses(`mx${i}.example.net`), ['127.0.0.1']);
    now += 10;
  }
  assert.ok(resolver.cached.domains <= 50, `domains cached: ${resolver.cached.domains}`);
  assert.ok(resolver.cached.hosts <= 50, `hosts cached: ${resolver.cached.hosts}`);
  const before = dns.queries.length;
  await resolver.resolve('d299.example.net');
  await resolver.addresses('mx299.example.net');
  assert.equal(dns.queries.length, before, 'the most recent domain and host are answered from the cache');
});
