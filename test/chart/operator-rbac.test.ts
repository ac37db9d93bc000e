import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { repoRoot } from '../control-plane/paths.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { condition, getJson, spawnOperator } from '../operator/operator-helpers.ts';
import { chartDir } from '../../scripts/chart/generated-files.ts';
import { waitForEstablished } from '../control-plane/crd-established.ts';

/**
 * The chart's RBAC is what the operator needs: the operator, running with the token of the
 * ServiceAccount the chart installs (leader election on, every namespace watched), reconciles
 * the samples, and nothing it does is forbidden.
 */
describe("the operator with the chart's ServiceAccount", { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let operator: ChildProcess | undefined;
  const output: string[] = [];

  before(async () => {
    cp = await getSharedControlPlane();
  });

  after(async () => {
    if (operator && operator.exitCode === null) {
      const exited = new Promise((r) => operator!.once('exit', r));
      operator.kill('SIGTERM');
      await exited;
    }
  });

  it('reconciles the samples with no forbidden request', async () => {
    const release = await cp.newNamespace('rbac');
    const apps = await cp.newNamespace('rbac-apps');
    await cp.helm(['install', 'mro', chartDir, '--namespace', release, '--timeout=60s']);
    await waitForEstablished(cp, ['mailrelays.mailrelay.dev', 'sendingdomains.mailrelay.dev']);
    const token = (await cp.kubectl(['create', 'token', 'mro-mail-relay-operator', '--namespace', release, '--duration=1h'])).trim();

    // The admin kubeconfig with its credentials replaced by the service account's token.
    const kubeconfig = parse(readFileSync(cp.kubeconfigPath, 'utf8')) as { users: { name: string; user: Record<string, unknown> }[] };
    for (const u of kubeconfig.users) u.user = { token };
    const path = join(await tempDir('rbac-'), 'kubeconfig');
    writeFileSync(path, stringify(kubeconfig), { mode: 0o600 });

    await cp.kubectl(['apply', '--namespace', apps, '-f', join(repoRoot, 'crds', 'samples')]);
    operator = spawnOperator(cp, ['--lease-namespace', release, '--identity', 'rbac-test', '--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms'], { kubeconfig: path });
    operator.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    operator.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    await waitFor('the samples reconciled', async () => {
      const relay = await getJson(cp, apps, 'mailrelay/outbound');
      const sd = await getJson(cp, apps, 'sendingdomain/example-com');
      return condition(relay, 'Reconciled')?.status === 'True' && condition(sd, 'DKIMKeyReady')?.status === 'True';
    }, 120_000);
    const lease = await getJson<{ spec?: { holderIdentity?: string } }>(cp, release, 'lease/mail-relay-operator');
    assert.equal(lease?.spec?.holderIdentity, 'rbac-test');
    const events = JSON.parse(await cp.kubectl(['get', 'events.events.k8s.io', '--namespace', apps, '-o', 'json'])) as { items: { reason: string }[] };
    assert.ok(events.items.some((e) => e.reason === 'KeyGenerated'), 'events are recorded');
    // Word-bounded: generated names (namespace suffixes, hashes) may contain the digits 403.
    assert.doesNotMatch(output.join(''), /forbidden|\b403\b/i);
  });
});
