import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { stringify } from 'yaml';

const ROOT = new URL('../../', import.meta.url).pathname;

export interface RelayProcess {
  readonly child: ChildProcess;
  readonly ports: Record<string, number>;
  readonly metricsPort: number;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  readonly output: () => string;
}

/** Writes `config` to DIR/relay.yaml. */
export function writeConfig(dir: string, config: Record<string, unknown>): string {
  const path = join(dir, 'relay.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

/** Runs the real `mail-relay` CLI (through tsx) as a child process. */
export function runCli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'relay/src/main.ts'), ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/**
 * Starts `mail-relay --config PATH` and waits for its "relay started" log line, which names
 * the bound ports. The process is killed when the test file ends if it is still running.
 */
export async function startRelayProcess(configPath: string, timeoutMs = 20_000): Promise<RelayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'relay/src/main.ts'), '--config', configPath, '--shutdown-grace', '5s'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const started = await new Promise<{ listeners: Record<string, number>; metricsPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"relay started"')) continue;
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (more: Buffer) => (out += more.toString()));
        resolve(JSON.parse(line) as { listeners: Record<string, number>; metricsPort: number });
        return;
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code}) before starting:\n${out}`));
    });
  });
  return { child, ports: started.listeners, metricsPort: started.metricsPort, exited, output: () => out };
}
