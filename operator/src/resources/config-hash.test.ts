import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { buildConfigHash, buildHashedRelayConfig } from './config-hash.ts';
import { renderRelayConfig, type RenderedRelayConfig } from './relay-config.ts';

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

describe('buildHashedRelayConfig', () => {
  const config = (paused: boolean, maxBounceRate: number, name = 'example.com', selector = 'mr1'): RenderedRelayConfig => ({
    hostname: 'relay.example.com',
    listeners: [{ name: 'smtp', address: '0.0.0.0', port: 2525 }],
    domains: [{ name, paused, dkim: { selector, privateKeyFile: `/k/${name}.${selector}.key` }, reputation: { maxBounceRate, maxComplaintRate: 0.003, minVolume: 100, pauseOnBreach: true } }],
  });
  const hash = (c: RenderedRelayConfig) => buildConfigHash(KEY, [renderRelayConfig(buildHashedRelayConfig(c))]);

  it('leaves out what the relay applies live (paused, reputation thresholds), so they roll no pod; the domains themselves count', () => {
    assert.equal(hash(config(true, 0.1)), hash(config(false, 0.1)));
    assert.equal(hash(config(false, 0.2)), hash(config(false, 0.1)));
    assert.equal(hash(config(false, 0.1, 'example.com', 'mr2')), hash(config(false, 0.1)), 'a DKIM rotation rolls no pod either');
    assert.notEqual(hash(config(false, 0.1, 'example.org')), hash(config(false, 0.1)));
    assert.match(renderRelayConfig(config(true, 0.1)), /paused: true/, 'the ConfigMap keeps them: the relay reads them live');
  });
});
