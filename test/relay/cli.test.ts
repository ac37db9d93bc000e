import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, writeConfig } from '../helpers/relay-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { parsePasswordHash, verifyPassword } from '../../relay/src/config/password.ts';

test('--help documents the commands and options', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.equal(code, 0);
  for (const word of ['--config', '--check', 'hash-password', '--shutdown-grace', '--log-level']) assert.ok(stdout.includes(word), word);
});

test('--version prints the package version', async () => {
  const { code, stdout } = await runCli(['--version']);
  assert.equal(code, 0);
  assert.match(stdout, /^\d+\.\d+\.\d+\n$/);
});

test('--check accepts a valid config and reports every problem of a bad one with exit 2', async () => {
  const dir = await tempDir();
  const good = writeConfig(dir, { hostname: 'relay.test', listeners: [{ name: 'smtp', port: 2525 }], queue: { dir: join(dir, 'q') } });
  const ok = await runCli(['--config', good, '--check']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /ok \(1 listeners, 0 users, 0 domains\)/);

  const badPath = join(dir, 'bad.yaml');
  writeFileSync(badPath, 'hostname: relay.test\nlisteners:\n  - { name: a, port: 25, tls: maybe }\nqueue: {}\nsurprise: 1\n');
  const bad = await runCli(['--config', badPath, '--check']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /listeners\[0\]\.tls: must be one of none, starttls, implicit/);
  assert.match(bad.stderr, /queue\.dir: is required/);
  assert.match(bad.stderr, /surprise: unknown key/);

  const missing = await runCli(['--config', join(dir, 'nope.yaml'), '--check']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read .*nope\.yaml: ENOENT/);
});

test('--check validates the users file too', async () => {
  const dir = await tempDir();
  const usersFile = join(dir, 'users.yaml');
  writeFileSync(usersFile, '- username: app\n  passwordHash: plaintext-oops\n');
  const path = writeConfig(dir, { hostname: 'relay.test', listeners: [{ name: 'smtp', port: 2525 }], usersFile, queue: { dir: join(dir, 'q') } });
  const result = await runCli(['--config', path, '--check']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /passwordHash: must be a hash printed by `mail-relay hash-password`/);
});

test('--check reads the VERP key file and refuses a short one', async () => {
  const dir = await tempDir();
  const keyFile = join(dir, 'verp.key');
  writeFileSync(keyFile, 'short\n');
  const feedback = { verpDomain: 'bounces.example.com', verpKeyFile: keyFile };
  const path = writeConfig(dir, { hostname: 'relay.test', listeners: [{ name: 'smtp', port: 2525 }], queue: { dir: join(dir, 'q') }, feedback });
  const short = await runCli(['--config', path, '--check']);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /verp\.key: feedback\.verpKeyFile must hold at least 16 bytes/);
  writeFileSync(keyFile, `${'k'.repeat(64)}\n`);
  const ok = await runCli(['--config', path, '--check']);
  assert.equal(ok.code, 0, ok.stderr);
});

test('--check validates the HTTP API tokens file and names how many tokens the API has', async () => {
  const dir = await tempDir();
  const tokensFile = join(dir, 'tokens.yaml');
  const config = writeConfig(dir, {
    hostname: 'relay.test',
    listeners: [{ name: 'smtp', port: 2525 }],
    queue: { dir: join(dir, 'q') },
    http: { port: 8080, tokensFile },
  });
  writeFileSync(tokensFile, '- { name: app1, token: app1-secret-token-0001, allowedSenderDomains: [example.com] }\n- { name: app2, tokenHash: "sha256:' + '0'.repeat(64) + '" }\n');
  const ok = await runCli(['--config', config, '--check']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /ok \(1 listeners, 0 users, 0 domains\); http API on port 8080 with 2 tokens/);

  writeFileSync(tokensFile, '- { name: app1, token: short }\n- { name: app1, tokenHash: nope }\n');
  const bad = await runCli(['--config', config, '--check']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /tokens\.yaml\[0\]\.token: must be at least 16/);
  assert.match(bad.stderr, /tokens\.yaml\[1\]\.tokenHash: must be sha256:/);
  assert.match(bad.stderr, /tokens\.yaml\[1\]\.name: duplicates token app1/);
  assert.doesNotMatch(bad.stderr, /short/, 'a token is never printed');
});

test('hash-password prints an scrypt hash that verifies the password from stdin', async () => {
  const { code, stdout } = await runCli(['hash-password'], 's3cret pass\n');
  assert.equal(code, 0);
  const parsed = parsePasswordHash(stdout.trim());
  assert.ok(parsed, stdout);
  assert.match(stdout, /^scrypt\$N=16384,r=8,p=1\$/);
  assert.equal(await verifyPassword('s3cret pass', parsed), true);
  assert.equal(await verifyPassword('s3cret pass\n', parsed), false);
  const empty = await runCli(['hash-password'], '');
  assert.equal(empty.code, 2);
});

test('unknown flags and commands exit 2', async () => {
  assert.equal((await runCli(['--frobnicate'])).code, 2);
  assert.equal((await runCli(['frobnicate'])).code, 2);
  assert.equal((await runCli([])).code, 2);
});
