import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { applyCrds } from './crds.ts';
import { getJson, spawnOperator } from './operator-helpers.ts';

interface Replica {
  readonly identity: string;
  readonly child: ChildProcess;
  metricsPort?: number;
  readonly exited: Promise<number | null>;
  /** Its log, for the failure message. */
  readonly output: string[];
}

function start(cp: ControlPlane, identity: string, ns: string, lease: string[]): Replica {
  const child = spawnOperator(cp, ['--namespaces', ns, '--lease-namespace', ns, '--identity', identity, ...lease]);
  const replica: Replica = { identity, child, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))), output: [] };
  child.stderr!.on('data', (d: Buffer) => replica.output.push(d.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    replica.output.push(line);
    try {
      const entry = JSON.parse(line) as { message?: string; metricsPort?: number };
      if (entry.message === 'operator started') replica.metricsPort = entry.metricsPort;
    } catch {
      // not a log line
    }
  });
  return replica;
}

async function reconciles(replica: Replica): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${replica.metricsPort}/metrics`)).text();
  return [...text.matchAll(/^mailrelay_operator_reconcile_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

const relayYaml = (name: string) => `apiVersion: mailrelay.dev/v1alpha1\nkind: MailRelay\nmetadata: { name: ${name} }\nspec:\n  hostname: ${name}.example\n  listeners: [{ name: smtp, port: 2525, tls: none, auth: none }]\n`;

describe('leader election between operator processes', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  const replicas: Replica[] = [];

  before(async () => {
    cp = await getSharedControlPlane();
    await applyCrds(cp);
  });

  after(async () => {
    for (const r of replicas) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
  });

  const holder = async (ns: string): Promise<string | undefined> =>
    (await getJson<{ spec?: { holderIdentity?: string } }>(cp, ns, 'lease/mail-relay-operator'))?.spec?.holderIdentity || undefined;

  it('elects exactly one leader, and the standby takes over after the leader is killed', async () => {
    const ns = await cp.newNamespace('le');
    const lease = ['--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms'];
    const a = start(cp, 'replica-a', ns, lease);
    const b = start(cp, 'replica-b', ns, lease);
    replicas.push(a, b);
    await waitFor('a leader', async () => (await holder(ns)) !== undefined, 90_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${a.output.join('\n')}\n${b.output.join('\n')}`);
    });
    await waitFor('both metrics endpoints', () => a.metricsPort !== undefined && b.metricsPort !== undefined, 90_000);
    const leader = (await holder(ns)) === 'replica-a' ? a : b;
    const standby = leader === a ? b : a;

    await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: relayYaml('first') });
    await waitFor('the leader reconciles', async () => (await getJson(cp, ns, 'configmap/first-config')) !== undefined, 30_000);
    // The counter moves when a reconcile ends, a little after its ConfigMap appears.
    await waitFor('the leader counts its reconciles', async () => (await reconciles(leader)) > 0, 30_000);
    assert.equal(await reconciles(standby), 0, 'the standby reconciles nothing');

    leader.child.kill('SIGKILL');
    await leader.exited;
    await waitFor('the standby holds the lease', async () => (await holder(ns)) === standby.identity, 30_000);
    await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: relayYaml('second') });
    await waitFor('the new leader reconciles', async () => (await getJson(cp, ns, 'configmap/second-config')) !== undefined, 30_000);
    await waitFor('the new leader counts its reconciles', async () => (await reconciles(standby)) > 0, 30_000);
  });

  it('releases the lease on SIGTERM, so a standby leads long before the lease would expire', async () => {
    const ns = await cp.newNamespace('le');
    // 60 s leases: a takeover within 20 s can only come from the release.
    const lease = ['--lease-duration', '60s', '--renew-deadline', '40s', '--retry-period', '500ms'];
    const a = start(cp, 'replica-a', ns, lease);
    replicas.push(a);
    await waitFor('a leads', async () => (await holder(ns)) === 'replica-a', 90_000);
    const b = start(cp, 'replica-b', ns, lease);
    replicas.push(b);
    await waitFor('b is up', () => b.metricsPort !== undefined, 90_000);
    a.child.kill('SIGTERM');
    assert.equal(await a.exited, 0, 'clean exit');
    // The bound is the assertion: without the release b would wait for the 60 s lease to expire.
    await waitFor('b leads', async () => (await holder(ns)) === 'replica-b', 20_000);
  });
});
