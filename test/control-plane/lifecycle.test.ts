import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { before, describe, it } from 'node:test';
import { ensureBinaries } from './binaries.ts';
import { startControlPlane } from './control-plane.ts';
import { spawnServer, startWatchdog, stopServer } from './processes.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from './test-timeouts.ts';

const cli = join(dirname(fileURLToPath(import.meta.url)), 'cli.ts');

/** Zombies count as gone: an orphan waits for whatever reaps it, which is not us. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Live processes whose parent is this test process. */
function runningChildren(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const [state, ppid] = stat.slice(close + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') found.push(stat.slice(stat.indexOf('(') + 1, close));
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

function serverPids(dir: string): number[] {
  return readFileSync(join(dir, 'pids'), 'utf8').trim().split('\n').map(Number);
}

function portOpen(server: string): Promise<boolean> {
  const url = new URL(server);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function watchdogRunning(dir: string): boolean {
  return readdirSync('/proc').some((entry) => {
    try {
      return readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(dir) && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('control-plane-watchdog');
    } catch {
      return false;
    }
  });
}

async function eventually(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

/** Starts the CLI and resolves once it has printed the kubeconfig path. */
async function startCli(): Promise<{ child: ReturnType<typeof spawn>; kubeconfigPath: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const kubeconfigPath = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`cli exited ${code} before printing a kubeconfig path:\n${stderr}`)));
  });
  return { child, kubeconfigPath, stderr: () => stderr };
}

describe('control plane lifecycle', () => {
  before(() => ensureBinaries(), { timeout: SETUP_TIMEOUT_MS });

  it('stop() ends etcd and kube-apiserver and removes the temporary folder', { timeout: TEST_TIMEOUT_MS }, async () => {
    const cp = await startControlPlane();
    const pids = serverPids(cp.dir);
    assert.equal(pids.length, 2);
    assert.ok(pids.every(running), 'servers should be running before stop()');
    assert.ok(existsSync(cp.kubeconfigPath));
    assert.ok(await portOpen(cp.server));

    await cp.stop();
    assert.deepEqual(pids.filter(running), []);
    assert.equal(existsSync(cp.dir), false);
    assert.equal(await portOpen(cp.server), false);
    assert.match(await cp.exited, /^(etcd|kube-apiserver) /);
  });

  it('stopServer() kills a server that ignores SIGTERM and waits for it to exit', { timeout: TEST_TIMEOUT_MS }, async () => {
    // Past the grace period only the (unref'd) child is left to wait on; this
    // used to let the event loop run dry, failing the test with "Promise
    // resolution is still pending but the event loop has already resolved".
    const dir = mkdtempSync(join(tmpdir(), 'control-plane-stubborn-'));
    const watchdog = startWatchdog(dir);
    try {
      const logFile = join(dir, 'stubborn.log');
      const server = spawnServer('stubborn', 'sh', ['-c', 'trap "" TERM; echo ready; exec sleep 60'], logFile, watchdog);
      await eventually('the server ignores SIGTERM', () => existsSync(logFile) && readFileSync(logFile, 'utf8').includes('ready'));
      assert.equal(await stopServer(server, 500), false);
      assert.equal(await server.exited, 'SIGKILL');
      assert.equal(running(server.pid), false);
    } finally {
      watchdog.dismiss();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failed start reports the server log and stops what it started', { timeout: TEST_TIMEOUT_MS }, async () => {
    await assert.rejects(startControlPlane({ apiServerArgs: ['--no-such-flag'] }), (err: Error) => {
      assert.match(err.message, /kube-apiserver exited \(exit code 1\) before becoming ready/);
      assert.match(err.message, /unknown flag: --no-such-flag/);
      return true;
    });
    assert.deepEqual(
      runningChildren().filter((name) => name === 'etcd' || name === 'kube-apiserver'),
      [],
    );
  });

  it('the cli stops everything on SIGINT', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { child, kubeconfigPath, stderr } = await startCli();
    const dir = dirname(kubeconfigPath);
    assert.match(readFileSync(kubeconfigPath, 'utf8'), /server: https:\/\/127\.0\.0\.1:\d+/);
    const pids = serverPids(dir);
    assert.ok(pids.every(running));

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr());
    assert.deepEqual(pids.filter(running), []);
    assert.equal(existsSync(dir), false);
  });

  it('a watchdog cleans up when the owning process is SIGKILLed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const { child, kubeconfigPath } = await startCli();
    const dir = dirname(kubeconfigPath);
    const pids = serverPids(dir);
    assert.ok(pids.every(running));

    child.kill('SIGKILL');
    await eventually('the orphaned servers are gone', () => !pids.some(running));
    await eventually('the temporary folder is removed', () => !existsSync(dir));
  });

  it("a watchdog stops a kept folder's processes, and only this run's, but leaves the folder when the owning process is SIGKILLed", { timeout: TEST_TIMEOUT_MS }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'control-plane-kept-'));
    // an earlier run's process group id, recorded in the kept folder, now someone else's group
    const bystander = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'pids'), `${bystander.pid}\n`);
      writeFileSync(join(dir, 'etcd-data'), 'kept');
      const processes = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'processes.ts')).href;
      const owner = spawn(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', `import { spawnServer, startWatchdog } from ${JSON.stringify(processes)};
const dir = process.argv[1];
const server = spawnServer('sleeper', 'sleep', ['60'], dir + '/sleeper.log', startWatchdog(dir, true));
console.log(server.pid);
setInterval(() => {}, 1000);`, dir],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const [line] = await new Promise<string[]>((resolve) => createInterface({ input: owner.stdout! }).once('line', (l) => resolve([l])));
      const sleeper = Number(line);
      assert.ok(running(sleeper));
      owner.kill('SIGKILL');
      await eventually('the orphaned sleeper is gone', () => !running(sleeper));
      await eventually('the watchdog is done', () => !watchdogRunning(dir));
      assert.equal(readFileSync(join(dir, 'etcd-data'), 'utf8'), 'kept');
      assert.ok(running(bystander.pid!), 'a process group of an earlier run is left alone');
    } finally {
      bystander.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
