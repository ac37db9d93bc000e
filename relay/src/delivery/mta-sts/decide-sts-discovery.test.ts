import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideStsDiscovery } from './decide-sts-discovery.ts';

const now = 1_000_000;
const fresh = { id: 'v1', expiresAt: now + 1 };
const expired = { id: 'v1', expiresAt: now };

test('an unexpired cached policy whose id the TXT record still names is used without a fetch', () => {
  assert.deepEqual(decideStsDiscovery(fresh, { kind: 'record', id: 'v1' }, now), { action: 'use-cached' });
});

test('a new id means a fetch, falling back to the unexpired cached policy if it fails', () => {
  assert.deepEqual(decideStsDiscovery(fresh, { kind: 'record', id: 'v2' }, now), { action: 'fetch', id: 'v2', fallback: true });
});

test('an expired cached policy is fetched again even under the same id, with nothing to fall back to', () => {
  assert.deepEqual(decideStsDiscovery(expired, { kind: 'record', id: 'v1' }, now), { action: 'fetch', id: 'v1', fallback: false });
  assert.deepEqual(decideStsDiscovery(undefined, { kind: 'record', id: 'v1' }, now), { action: 'fetch', id: 'v1', fallback: false });
});

test('a TXT record that vanished, fails to resolve or is invalid keeps an unexpired cached policy, else there is none', () => {
  for (const txt of [{ kind: 'none' }, { kind: 'dns-error' }, { kind: 'invalid' }] as const) {
    assert.deepEqual(decideStsDiscovery(fresh, txt, now), { action: 'use-cached' }, txt.kind);
    assert.deepEqual(decideStsDiscovery(expired, txt, now), { action: 'none' }, txt.kind);
    assert.deepEqual(decideStsDiscovery(undefined, txt, now), { action: 'none' }, txt.kind);
  }
});
