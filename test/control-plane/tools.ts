import { spawn } from 'node:child_process';

export interface ToolOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

export class ToolError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** Runs a CLI to completion; rejects with its stderr when it exits non-zero. */
export function runTool(command: string, args: string[], { input, env, timeoutMs = 120_000 }: ToolOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const out = Buffer.concat(stdout).toString('utf8');
      const err = Buffer.concat(stderr).toString('utf8');
      if (code === 0) resolve(out);
      else {
        const how = signal ? `was killed by ${signal}` : `exited ${code}`;
        reject(new ToolError(`${command} ${args.join(' ')} ${how}: ${err.trim()}`, code, out, err));
      }
    });
    child.stdin.end(input ?? '');
  });
}
