/**
 * Operator memory with many large Secrets it does not use: 100 Secrets of 0.9 MB (the size of
 * Helm release Secrets) in the namespace it watches, beside one MailRelay. Prints the built
 * operator's RSS after its caches synced on the empty namespace, then after the Secrets arrived
 * and a few resyncs ran. Not a test: a figure for the report (issue 12, "Hardening").
 *
 *   node --import tsx test/operator/secrets-rss.ts [--secrets 100] [--size 900000] [--no-build]
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../control-plane/control-plane.ts';
import { RestClient, resourcePath } from '../../operator/src/kube/rest-client.ts';
import { applyCrds, crdDir } from './crds.ts';
import { spawnOperator } from './operator-helpers.ts';

const { values } = parseArgs({ options: { secrets: { type: 'string', default: '100' }, size: { type: 'string', default: '900000' }, 'no-build': { type: 'boolean' } } });
const COUNT = Number(values.secrets);
const SIZE = Number(values.size);

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (!values['no-build']) execFileSync('npm', ['run', '--silent', 'build'], { cwd: new URL('../../', import.meta.url), stdio: 'inherit' });
const cp = await startControlPlane();
let child: ReturnType<typeof spawnOperator> | undefined;
try {
  await applyCrds(cp);
  const ns = await cp.newNamespace('rss');
  await cp.kubectl(['apply', '-n', ns, '-f', `${crdDir}/samples/`]);
  child = spawnOperator(cp, ['--namespaces', ns, '--no-leader-elect', '--resync', '5s'], { built: true });
  const pid = child.pid!;
  child.stderr!.resume();
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child!.stdout! }).on('line', (line) => {
      if (line.includes('"operator started"')) resolve();
    });
    child!.once('exit', () => reject(new Error('operator exited')));
  });
  await sleep(10_000);
  const idle = rssMiB(pid, 'VmRSS');

  const rest = new RestClient(cp.kubeConfig());
  for (let i = 0; i < COUNT; i++) {
    const name = `sh.helm.release.v1.app${i}.v1`;
    await rest.request('POST', resourcePath('v1', 'secrets', ns), {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'helm.sh/release.v1',
        metadata: { name, labels: { owner: 'helm', name: `app${i}`, status: 'deployed', version: '1' } },
        // Helm stores a gzipped, base64-encoded release: incompressible.
        data: { release: randomBytes(Math.floor((SIZE * 3) / 4)).toString('base64') },
      },
    });
  }
  // Several resyncs (5 s): every relay and domain reconciled again with the Secrets present.
  await sleep(20_000);
  const loaded = rssMiB(pid, 'VmRSS');
  const peak = rssMiB(pid, 'VmHWM');
  process.stdout.write(
    [
      `## Operator RSS with ${COUNT} unrelated Secrets of ${(SIZE / 1e6).toFixed(1)} MB`,
      '',
      '| figure | MiB |',
      '|---|---|',
      `| RSS, caches synced, samples reconciled | ${idle.toFixed(0)} |`,
      `| RSS after the Secrets and 4 resyncs | ${loaded.toFixed(0)} |`,
      `| peak RSS (VmHWM) | ${peak.toFixed(0)} |`,
      '',
    ].join('\n'),
  );
} finally {
  if (child?.pid) child.kill('SIGTERM');
  await cp.stop();
}
