import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process exits, with its code or signal. */
  readonly exited: Promise<string>;
  hasExited(): boolean;
}

const PIDS_FILE = 'pids';

/**
 * Tears down after the parent no matter how it dies. It blocks reading a pipe
 * whose only writer is the parent; the kernel closes that end even on SIGKILL,
 * so EOF means "parent gone", with no polling and no PID-reuse race.
 */
const WATCHDOG_SCRIPT = `
cat >/dev/null
dir=$1
pids=$(cat "$dir/${PIDS_FILE}" 2>/dev/null)
for pg in $pids; do kill -s TERM -- "-$pg" 2>/dev/null; done
i=0
while [ $i -lt 50 ]; do
  alive=
  for pg in $pids; do kill -s 0 -- "-$pg" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1
  i=$((i + 1))
done
for pg in $pids; do kill -s KILL -- "-$pg" 2>/dev/null; done
rm -rf -- "$dir"
`;

export interface Watchdog {
  /** Records a process group to clean up if this process dies first. */
  track(pid: number): void;
  /** Ends the watchdog without it touching anything, for an orderly stop. */
  dismiss(): void;
}

export function startWatchdog(dir: string): Watchdog {
  const child = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'control-plane-watchdog', dir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  // The pipe must not keep the event loop (and so a finished test file) alive.
  (child.stdin as unknown as Socket).unref();
  child.unref();
  return {
    track(pid) {
      appendFileSync(join(dir, PIDS_FILE), `${pid}\n`);
    },
    dismiss() {
      killGroup(child, 'SIGKILL');
    },
  };
}

function killGroup(child: ChildProcess | number, signal: NodeJS.Signals): void {
  const pid = typeof child === 'number' ? child : child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts a server in its own process group (so that stopping it also stops
 * anything it forks) with output going to a log file rather than pipes, which
 * would otherwise keep this process alive and fill up when nobody reads them.
 */
export function spawnServer(name: string, command: string, args: string[], logFile: string, watchdog: Watchdog): ServerProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const pid = child.pid;
  watchdog.track(pid);
  child.unref();
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.on('error', (err) => {
      done = true;
      resolve(`spawn error: ${err.message}`);
    });
    child.on('exit', (code, signal) => {
      done = true;
      resolve(signal ?? `exit code ${code}`);
    });
  });
  return { name, pid, logFile, exited, hasExited: () => done };
}

/**
 * Sends SIGTERM, then SIGKILL if the process has not exited within the grace
 * period. Resolves to false when it had to be killed.
 */
export async function stopServer(server: ServerProcess, graceMs = 10_000): Promise<boolean> {
  if (server.hasExited()) return true;
  killGroup(server.pid, 'SIGTERM');
  // A pending timer would hold the event loop open for the whole grace period.
  const grace = new AbortController();
  const stopped = await Promise.race([
    server.exited.then(() => true),
    sleep(graceMs, false, { signal: grace.signal }).catch(() => false),
  ]);
  grace.abort();
  if (!stopped) {
    killGroup(server.pid, 'SIGKILL');
    await server.exited;
  }
  // Reap anything left in the group (the leader may exit before its children).
  killGroup(server.pid, 'SIGKILL');
  return stopped;
}

/** For `process.on('exit')`, where nothing asynchronous can run. */
export function killServerSync(server: ServerProcess): void {
  killGroup(server.pid, 'SIGKILL');
}

export function logTail(server: ServerProcess, lines = 30): string {
  try {
    return readFileSync(server.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
