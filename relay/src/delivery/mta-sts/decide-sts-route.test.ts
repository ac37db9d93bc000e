import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideStsRoute } from './decide-sts-route.ts';

const hosts = ['mx1.example.com', 'rogue.example.org', 'mx2.example.com'];

test('no policy or mode none: delivery as usual', () => {
  assert.deepEqual(decideStsRoute('example.com', undefined, hosts), { kind: 'plain' });
  assert.deepEqual(decideStsRoute('example.com', { mode: 'none', maxAge: 1, mx: [] }, hosts), { kind: 'plain' });
});

test('enforce keeps the allowed hosts in MX order', () => {
  assert.deepEqual(decideStsRoute('example.com', { mode: 'enforce', maxAge: 1, mx: ['*.example.com'] }, hosts), {
    kind: 'enforce',
    hosts: ['mx1.example.com', 'mx2.example.com'],
  });
});

test('enforce with no allowed host defers with a 4.7.5 reply naming the domain', () => {
  const route = decideStsRoute('example.com', { mode: 'enforce', maxAge: 1, mx: ['mail.example.com'] }, hosts);
  assert.equal(route.kind, 'enforce-no-mx');
  assert.match((route as { reply: string }).reply, /^451 4\.7\.5 MTA-STS policy of example\.com allows none of its MX hosts/);
});

test('testing changes no host, only records which are allowed', () => {
  assert.deepEqual(decideStsRoute('example.com', { mode: 'testing', maxAge: 1, mx: ['mail.example.com'] }, hosts), { kind: 'testing', allowed: [] });
});
