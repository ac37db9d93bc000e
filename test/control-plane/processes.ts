import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /**
   * Settles when the process exits, with its code or signal. The process is
   * unref'd, so awaiting this alone does not keep the event loop alive: use
   * waitForExit() for that.
   */
  readonly exited: Promise<string>;
  hasExited(): boolean;
  /**
   * Like `exited`, but holds the event loop open until the process has exited.
   * Whoever stops a server must wait through this: with the child unref'd and
   * nothing else pending, Node would otherwise run out of work mid-await (in a
   * test file, node:test then fails every test with "Promise resolution is
   * still pending but the event loop has already resolved").
   */
  waitForExit(): Promise<string>;
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
keep=$2
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
# a node's host changes (addresses, iptables chains, mounts, containers): see node-config.ts
[ -f "$dir/node-cleanup.sh" ] && sh "$dir/node-cleanup.sh"
# a kept control plane (stateDir) is the point of keeping: only a temporary one goes
[ "$keep" = keep ] || rm -rf -- "$dir"
`;

export interface Watchdog {
  /** Records a process group to clean up if this process dies first. */
  track(pid: number): void;
  /** Ends the watchdog without it touching anything, for an orderly stop. */
  dismiss(): void;
}

/**
 * `keep`: the folder is a kept stateDir; the watchdog then leaves it in place. Either way the
 * process groups of an earlier run in the same folder are forgotten (their ids may be reused).
 */
export function startWatchdog(dir: string, keep = false): Watchdog {
  writeFileSync(join(dir, PIDS_FILE), '');
  const child = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'control-plane-watchdog', dir, keep ? 'keep' : 'remove'], {
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
      // Nobody writes to it any more; closing it also releases the fd.
      child.stdin?.destroy();
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
  // Unref'd so that a shared control plane does not keep a finished test file
  // alive; process.on('exit') and the watchdog end it then. waitForExit() refs it.
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
  const waitForExit = (): Promise<string> => {
    // After the exit the handle is closed, so this ref never outlives the process.
    if (!done) child.ref();
    return exited;
  };
  return { name, pid, logFile, exited, hasExited: () => done, waitForExit };
}

/**
 * Sends SIGTERM, then SIGKILL if the process has not exited within the grace
 * period. Resolves to false when it had to be killed.
 */
export async function stopServer(server: ServerProcess, graceMs = 10_000): Promise<boolean> {
  if (server.hasExited()) return true;
  // Ref'd from here on: past the grace period no timer is left to keep Node running.
  const exit = server.waitForExit();
  killGroup(server.pid, 'SIGTERM');
  // A pending timer would hold the event loop open for the whole grace period.
  const grace = new AbortController();
  const stopped = await Promise.race([
    exit.then(() => true),
    sleep(graceMs, false, { signal: grace.signal }).catch(() => false),
  ]);
  grace.abort();
  if (!stopped) {
    killGroup(server.pid, 'SIGKILL');
    await exit;
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
