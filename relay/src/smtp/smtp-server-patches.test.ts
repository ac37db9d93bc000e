import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * smtp-server-patches.ts replaces or wraps these functions of smtp-server. When an upgrade
 * changes one of them, this fails: re-read the new source, check the patch still fits, then
 * update the digest (and the exact version pin in package.json).
 */
const PATCHED = {
  send: 'c33568c0111a58b2d16786c2ffebbeef6f040c6914742bbcae1c3b3b2507efcb',
  init: '1265a7d7ca8f5510b4ce94ce4c52bdc127a13b6ef912ec7f9dec69be7a662918',
  handler_AUTH: '2533179c785e8329a2837e4fc4e977cd65600700188a67edc47ee62328b9ef9e',
  // not patched, but the EHLO filter relies on its reply being the only multi-line 250 and on its `AUTH ...` line
  handler_EHLO: '42394b3ad94f3debdc14fc08f5e017635b00c85799bb3a8fa68b4a8aa5b0642a',
} as const;

test('the smtp-server functions the patches rely on are the ones they were written for', async () => {
  // read before the patches are applied: this file imports them only below
  const proto = SMTPConnection.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const digests = Object.fromEntries(
    Object.keys(PATCHED).map((name) => [name, createHash('sha256').update(String(proto[name])).digest('hex')]),
  );
  assert.deepEqual(digests, PATCHED);
  await import('./smtp-server-patches.ts');
  assert.notEqual(createHash('sha256').update(String(proto.handler_AUTH)).digest('hex'), PATCHED.handler_AUTH, 'the patch is applied');
});

test('smtp-server is pinned to one exact version', () => {
  const require = createRequire(import.meta.url);
  const installed = (JSON.parse(readFileSync(require.resolve('smtp-server/package.json'), 'utf8')) as { version: string }).version;
  const declared = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> })
    .dependencies['smtp-server'];
  assert.equal(declared, installed);
});
