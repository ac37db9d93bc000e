import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildVerpAddress, parseVerpAddress, verifyVerpDomain, verifyVerpRecipient } from './verp.ts';

const KEY = Buffer.from('k'.repeat(64));
const OTHER_KEY = Buffer.from('x'.repeat(64));
const DOMAINS = ['example.com', 'example.org'];

test('a VERP address names the queue id and recipient index and verifies for its domain and recipient only', () => {
  const address = buildVerpAddress(KEY, 'bounces.example.com', '0MX0OCS85001OMW8', 3, 'example.org', 'User@Example.net');
  assert.match(address, /^b-0mx0ocs85001omw8-3-[0-9a-f]{12}-[0-9a-f]{12}@bounces\.example\.com$/);
  assert.ok(address.split('@')[0]!.length <= 64, 'RFC 5321 local-part limit');
  const parts = parseVerpAddress(address.toUpperCase(), 'bounces.example.com');
  assert.ok(parts, 'MTAs that fold case do not break it');
  assert.equal(parts.queueId, '0mx0ocs85001omw8');
  assert.equal(parts.index, 3);
  assert.equal(verifyVerpDomain(KEY, parts, DOMAINS), 'example.org');
  assert.equal(verifyVerpRecipient(KEY, parts, ['someone@example.net', 'user@example.net']), 'user@example.net');
  assert.equal(verifyVerpRecipient(KEY, parts, ['someone@example.net']), undefined);
});

test('forged VERP addresses do not verify: another key, a changed index or tag, another domain', () => {
  const address = buildVerpAddress(KEY, 'bounces.example.com', '0MX0OCS85001OMW8', 0, 'example.com', 'a@example.net');
  const parts = parseVerpAddress(address, 'bounces.example.com')!;
  assert.equal(verifyVerpDomain(OTHER_KEY, parts, DOMAINS), undefined);
  assert.equal(verifyVerpDomain(KEY, { ...parts, index: 1 }, DOMAINS), undefined);
  assert.equal(verifyVerpDomain(KEY, { ...parts, domainTag: '000000000000' }, DOMAINS), undefined);
  assert.equal(verifyVerpDomain(KEY, parts, ['example.org']), undefined);
  assert.equal(parseVerpAddress(address, 'other.example.com'), undefined);
  assert.equal(parseVerpAddress('postmaster@bounces.example.com', 'bounces.example.com'), undefined);
});
