import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideLabels, labelsFromHeaders, LABEL_LIMITS, type LabelHeader } from './message-labels.ts';

const headers = (entries: Array<[LabelHeader, string[]]>) => new Map(entries);

test('well-formed fields are kept as given; empty tags and metadata are left out; duplicate tags dropped', () => {
  assert.deepEqual(decideLabels({ category: 'newsletter', tags: ['spring', 'sale', 'spring'], metadata: { campaign: 'c-1', 'user id': 'é' } }), {
    ok: true,
    labels: { category: 'newsletter', tags: ['spring', 'sale'], metadata: { campaign: 'c-1', 'user id': 'é' } },
  });
  assert.deepEqual(decideLabels({ tags: [], metadata: {} }), { ok: true, labels: {} });
  assert.deepEqual(decideLabels({}), { ok: true, labels: {} });
});

test('each bound is enforced and named by field', () => {
  const problem = (input: Parameters<typeof decideLabels>[0]) => {
    const v = decideLabels(input);
    assert.equal(v.ok, false, JSON.stringify(input));
    return v.ok ? [] : v.problems.map((p) => p.field);
  };
  assert.deepEqual(problem({ category: 'News' }), ['category'], 'upper case');
  assert.deepEqual(problem({ category: '-x' }), ['category']);
  assert.deepEqual(problem({ category: 'a'.repeat(64) }), ['category'], '64 characters');
  assert.equal(decideLabels({ category: 'a'.repeat(63) }).ok, true);
  assert.deepEqual(problem({ category: 7 }), ['category']);
  assert.deepEqual(problem({ tags: 'a,b' }), ['tags']);
  assert.deepEqual(problem({ tags: Array.from({ length: LABEL_LIMITS.maxTags + 1 }, (_, i) => `t${i}`) }), ['tags']);
  assert.equal(decideLabels({ tags: Array.from({ length: LABEL_LIMITS.maxTags }, (_, i) => `t${i}`) }).ok, true);
  assert.deepEqual(problem({ tags: ['a'.repeat(65)] }), ['tags']);
  assert.equal(decideLabels({ tags: ['a'.repeat(64)] }).ok, true);
  assert.deepEqual(problem({ tags: ['has space'] }), ['tags']);
  assert.deepEqual(problem({ metadata: ['a'] }), ['metadata']);
  assert.deepEqual(problem({ metadata: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, 'v'])) }), ['metadata']);
  assert.deepEqual(problem({ metadata: { ['k'.repeat(65)]: 'v' } }), ['metadata']);
  assert.deepEqual(problem({ metadata: { '': 'v' } }), ['metadata']);
  assert.deepEqual(problem({ metadata: { k: 'v'.repeat(257) } }), ['metadata.k']);
  assert.deepEqual(problem({ metadata: { k: 'line\r\nbreak' } }), ['metadata.k']);
  assert.deepEqual(problem({ metadata: { k: 1 } }), ['metadata.k']);
  // 9 values of 256 characters: each within its bound, the whole over 2 KiB
  assert.deepEqual(problem({ metadata: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'.repeat(256)])) }), ['metadata']);
  assert.deepEqual(problem({ category: 'X', tags: 1, metadata: 1 }), ['category', 'tags', 'metadata'], 'every bad field at once');
});

test('a __proto__ key is data, not a prototype', () => {
  const v = labelsFromHeaders(headers([['x-mail-relay-metadata', ['{"__proto__": "x", "a": "b"}']]]));
  assert.ok(v.ok);
  assert.equal(Object.getPrototypeOf(v.labels.metadata), Object.prototype);
  assert.deepEqual(Object.keys(v.labels.metadata!), ['__proto__', 'a']);
});

test('header fields: tags comma-separated and trimmed, metadata a JSON object, each field once', () => {
  assert.deepEqual(
    labelsFromHeaders(
      headers([
        ['x-mail-relay-category', [' newsletter ']],
        ['x-mail-relay-tags', ['spring, sale,,\tlast ,']],
        ['x-mail-relay-metadata', ['{"campaign": "c-1"}']],
      ]),
    ),
    { ok: true, labels: { category: 'newsletter', tags: ['spring', 'sale', 'last'], metadata: { campaign: 'c-1' } } },
  );
  const bad = (entries: Array<[LabelHeader, string[]]>) => {
    const v = labelsFromHeaders(headers(entries));
    return v.ok ? 'accepted' : v.problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  };
  assert.match(bad([['x-mail-relay-category', ['a', 'b']]]), /^X-Mail-Relay-Category: must appear at most once$/);
  assert.match(bad([['x-mail-relay-metadata', ['{"a":']]]), /^X-Mail-Relay-Metadata: must be a JSON object/);
  assert.match(bad([['x-mail-relay-metadata', ['["a"]']]]), /^X-Mail-Relay-Metadata: must be an object/);
  assert.match(bad([['x-mail-relay-metadata', [`{"a": "${'x'.repeat(LABEL_LIMITS.maxHeaderBytes)}"}`]]]), /^X-Mail-Relay-Metadata: must be at most 4096 bytes/);
  assert.match(bad([['x-mail-relay-tags', [Array.from({ length: 11 }, (_, i) => `t${i}`).join(',')]]]), /^X-Mail-Relay-Tags: must have at most 10 tags/);
  assert.match(bad([['x-mail-relay-category', ['Newsletter']]]), /^X-Mail-Relay-Category: must be a category name/);
  assert.deepEqual(labelsFromHeaders(new Map()), { ok: true, labels: {} });
});

test('header fields in UTF-8 or in encoded words (as nodemailer folds long values) are decoded', () => {
  const encoded = '=?UTF-8?Q?=7B=22campaign=22=3A=22spring_sale?= =?UTF-8?Q?_2026=22=7D?=';
  assert.deepEqual(labelsFromHeaders(headers([['x-mail-relay-metadata', [encoded]]])), { ok: true, labels: { metadata: { campaign: 'spring sale 2026' } } });
  const utf8 = Buffer.from('{"city": "Zürich"}', 'utf8').toString('latin1');
  assert.deepEqual(labelsFromHeaders(headers([['x-mail-relay-metadata', [utf8]]])), { ok: true, labels: { metadata: { city: 'Zürich' } } });
  assert.deepEqual(labelsFromHeaders(headers([['x-mail-relay-category', ['=?us-ascii?q?newsletter?=']]])), { ok: true, labels: { category: 'newsletter' } });
});

test('the API fields and the header fields give the same labels', () => {
  const api = decideLabels({ category: 'receipts', tags: ['eu', 'q4'], metadata: { order: '1234', note: 'ü "quoted"' } });
  const smtp = labelsFromHeaders(
    headers([
      ['x-mail-relay-category', ['receipts']],
      ['x-mail-relay-tags', ['eu,q4']],
      // as the header inspection hands it over: the UTF-8 bytes, one character each
      ['x-mail-relay-metadata', [Buffer.from(JSON.stringify({ order: '1234', note: 'ü "quoted"' })).toString('latin1')]],
    ]),
  );
  assert.deepEqual(smtp, api);
});
