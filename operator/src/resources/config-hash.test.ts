import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { buildConfigHash } from './config-hash.ts';

const KEY = 'k'.repeat(43);
const parts = (password: string) => ['hostname: relay.example.com\n', '', '', '', password];

describe('buildConfigHash', () => {
  it('changes when the smarthost password changes', () => {
    assert.notEqual(buildConfigHash(KEY, parts('hunter2')), buildConfigHash(KEY, parts('hunter3')));
    assert.equal(buildConfigHash(KEY, parts('hunter2')), buildConfigHash(KEY, parts('hunter2')));
  });

  it('cannot be recomputed from the inputs without the key: not their SHA-256, and another key gives another hash', () => {
    const hash = buildConfigHash(KEY, parts('hunter2'));
    const plain = createHash('sha256');
    for (const p of parts('hunter2')) plain.update(p).update('\0');
    assert.notEqual(hash, plain.digest('hex'));
    assert.notEqual(hash, createHash('sha256').update(parts('hunter2').join('')).digest('hex'));
    assert.notEqual(hash, buildConfigHash('x'.repeat(43), parts('hunter2')));
    assert.match(hash, /^[0-9a-f]{64}$/);
  });

  it('tells part boundaries apart', () => {
    assert.notEqual(buildConfigHash(KEY, ['ab', 'c']), buildConfigHash(KEY, ['a', 'bc']));
    assert.notEqual(buildConfigHash(KEY, ['a\0', 'b']), buildConfigHash(KEY, ['a', '\0b']));
  });
});
