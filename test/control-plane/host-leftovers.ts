import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/**
 * What a node run may leave on the host, as the repository's pre-stop check sees it: a
 * 198.18/15 address on lo, a link named cni… or mr-node…, KUBE-/CNI-/MR-NODE- iptables chains (v4 and v6),
 * mounts of a control plane's folder (a temporary one, or one of `keptDirs`: stateDir folders), containerd shims, pod cgroups, the node lock. Empty when the
 * host is clean.
 */
export function nodeHostLeftovers(keptDirs: readonly string[] = []): string[] {
  const ours = (path: string) => keptDirs.some((dir) => path.startsWith(`${dir}/`));
  const found: string[] = [];
  for (const line of run('ip', ['-o', 'addr', 'show', 'dev', 'lo']).split('\n')) {
    if (/inet 198\.1[89]\./.test(line)) found.push(`address on lo: ${line.trim()}`);
  }
  for (const line of run('ip', ['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
    if (name && /^(cni|mr-node)/.test(name)) found.push(`link ${name}`);
  }
  for (const command of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      for (const line of run(command, ['-t', table, '-S']).split('\n')) {
        if (/(KUBE-|CNI-|MR-NODE-)/.test(line)) found.push(`${command} -t ${table}: ${line}`);
      }
    }
  }
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mountPoint = line.split(' ')[4];
    if (mountPoint && (/\/control-plane-[^/]+\/node\/|^\/run\/netns\/cni-/.test(mountPoint) || ours(mountPoint))) found.push(`mount ${mountPoint}`);
  }
  for (const line of run('ps', ['-eo', 'pid=,args=']).split('\n')) {
    if (/containerd-shim.*control-plane-/.test(line) || (/containerd-shim/.test(line) && keptDirs.some((dir) => line.includes(dir)))) found.push(`process ${line.trim()}`);
  }
  for (const controller of ['memory', 'pids', 'cpu']) {
    if (existsSync(`/sys/fs/cgroup/${controller}/kubepods`)) found.push(`cgroup /sys/fs/cgroup/${controller}/kubepods`);
  }
  if (existsSync('/run/mail-relay-operator-node.lock')) found.push('the node lock /run/mail-relay-operator-node.lock');
  return found;
}
