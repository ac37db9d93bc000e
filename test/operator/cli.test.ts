import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_RELAY_IMAGE, parseOperatorOptions } from '../../operator/src/options.ts';
import { operatorMain, repoRoot } from './operator-helpers.ts';

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', operatorMain, ...args], { cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('--help documents every flag and its environment variable', async () => {
  const { code, stdout } = await run(['--help']);
  assert.equal(code, 0);
  for (const word of ['--kubeconfig', '--namespaces', 'WATCH_NAMESPACES', '--relay-image', 'RELAY_IMAGE', '--resolvers', 'DNS_RESOLVERS', '--log-level', 'LOG_LEVEL', '--metrics-port', '--no-leader-elect', '--lease-namespace', 'POD_NAMESPACE', 'POD_NAME']) {
    assert.ok(stdout.includes(word), word);
  }
  assert.doesNotMatch(stdout, /not yet implemented/);
});

test('bad flags exit 2 listing every problem', async () => {
  const { code, stderr } = await run(['--resync', 'soon', '--workers', '0', '--log-level', 'loud']);
  assert.equal(code, 2);
  assert.match(stderr, /--resync: must be a duration/);
  assert.match(stderr, /--workers: must be an integer from 1 to 64/);
  assert.match(stderr, /--log-level: must be one of/);
  assert.equal((await run(['--bogus'])).code, 2);
});

test('flags override the environment; defaults watch every namespace with leader election', () => {
  const env = { WATCH_NAMESPACES: 'a, b', RELAY_IMAGE: 'env/image:1', POD_NAMESPACE: 'ops', POD_NAME: 'op-0', DNS_RESOLVERS: '10.0.0.10,127.0.0.1:5353' };
  const fromEnv = parseOperatorOptions([], env);
  assert.deepEqual(fromEnv.namespaces, ['a', 'b']);
  assert.equal(fromEnv.relayImage, 'env/image:1');
  assert.equal(fromEnv.leaseNamespace, 'ops');
  assert.equal(fromEnv.identity, 'op-0');
  assert.deepEqual(fromEnv.resolvers, ['10.0.0.10', '127.0.0.1:5353']);
  const flags = parseOperatorOptions(['--namespaces', 'c', '--relay-image', 'flag/image:2', '--no-leader-elect'], env);
  assert.deepEqual(flags.namespaces, ['c']);
  assert.equal(flags.relayImage, 'flag/image:2');
  assert.equal(flags.leaderElect, false);
  const defaults = parseOperatorOptions([], {});
  assert.equal(defaults.namespaces, 'all');
  assert.equal(defaults.leaderElect, true);
});

test('the default relay image carries the package version', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.ok(DEFAULT_RELAY_IMAGE.endsWith(`:${version}`));
});
