import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMessageMeta } from './parse-meta.ts';

const base = {
  id: '0000000000000001',
  from: 'alice@example.test',
  recipients: [{ address: 'rcpt@example.net', status: 'pending' }],
  createdAt: 1,
  size: 10,
  attempts: 0,
  nextAttemptAt: 1,
  origin: { listener: 'submission', clientAddress: '127.0.0.1', user: 'alice' },
};

test('the signing domain recorded at acceptance is read back as written, null included', () => {
  assert.equal(parseMessageMeta({ ...base, headerFromDomain: 'other.test', sendingDomain: 'other.test', signingDomain: 'example.test' }).signingDomain, 'example.test');
  assert.equal(parseMessageMeta({ ...base, headerFromDomain: 'example.test', sendingDomain: 'example.test', signingDomain: null }).signingDomain, null);
  assert.throws(() => parseMessageMeta({ ...base, signingDomain: 7 }), /bad signingDomain/);
});

test('a record from before signingDomain is signed only when its From: domain is under its checked sending domain', () => {
  assert.equal(parseMessageMeta({ ...base, sendingDomain: 'example.test', headerFromDomain: 'example.test' }).signingDomain, 'example.test');
  assert.equal(parseMessageMeta({ ...base, sendingDomain: 'example.test', headerFromDomain: 'news.example.test' }).signingDomain, 'example.test');
  assert.equal(parseMessageMeta({ ...base, sendingDomain: 'example.test', headerFromDomain: 'other.test' }).signingDomain, null, "another tenant's From: is not signed");
  assert.equal(parseMessageMeta({ ...base, sendingDomain: 'example.test', headerFromDomain: 'badexample.test' }).signingDomain, null);
  assert.equal(parseMessageMeta({ ...base, headerFromDomain: 'example.test' }).signingDomain, null, 'no sending domain was checked');
});

test('category, tags and metadata are read back as written; records without them still parse; bad ones are refused', () => {
  const labels = { category: 'newsletter', tags: ['spring'], metadata: { campaign: 'c-1' } };
  const meta = parseMessageMeta({ ...base, ...labels });
  assert.equal(meta.category, 'newsletter');
  assert.deepEqual(meta.tags, ['spring']);
  assert.deepEqual(meta.metadata, { campaign: 'c-1' });
  const old = parseMessageMeta(base);
  assert.ok(!('category' in old) && !('tags' in old) && !('metadata' in old));
  assert.throws(() => parseMessageMeta({ ...base, category: 'Bad Name' }), /bad category/);
  assert.throws(() => parseMessageMeta({ ...base, tags: 'spring' }), /bad tags/);
  assert.throws(() => parseMessageMeta({ ...base, metadata: { k: 7 } }), /bad metadata\.k/);
});
