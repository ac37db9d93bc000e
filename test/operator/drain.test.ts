import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubernetesObject, V1PersistentVolumeClaim, V1Pod, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { RestClient, resourcePath } from '../../operator/src/kube/rest-client.ts';
import type { Operator } from '../../operator/src/operator.ts';
import type { MailRelay } from '../../operator/src/api/v1alpha1/types.ts';
import { relayPodLabels } from '../../operator/src/resources/labels.ts';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { startMxServer, type MxServer } from '../helpers/mx-server.ts';
import { startRelayProcess, writeConfig, type RelayProcess } from '../helpers/relay-process.ts';
import { sendLoad } from '../helpers/smtp-load.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { applyCrds, condition, startOperator } from './operator-helpers.ts';

/**
 * The operator's orchestration of a scale-down against a real API server and real relay
 * processes. This control plane runs no StatefulSet controller or kubelet, so the test plays
 * them: it creates the pods (each a relay process on its own loopback address, all with the
 * same admin port, as pods have one port on their own IPs) and their claims, and removes the
 * pods once the StatefulSet shrank.
 */
describe('scale-down drain against a real API server and relay processes', { timeout: 240_000 }, () => {
  let cp: ControlPlane;
  let rest: RestClient;
  let ns: string;
  let sink: MxServer;
  let operator: Operator | undefined;
  const relays: RelayProcess[] = [];
  const adminPort = 20_000 + Math.floor(Math.random() * 20_000);

  const get = async <T extends KubernetesObject>(apiVersion: string, plural: string, name: string): Promise<T | undefined> => {
    try {
      return await rest.request<T>('GET', resourcePath(apiVersion, plural, ns, name));
    } catch (err) {
      if ((err as { status?: number }).status === 404 || /404|not found/i.test(String(err))) return undefined;
      throw err;
    }
  };
  const relay = () => get<MailRelay & KubernetesObject>('mailrelay.dev/v1alpha1', 'mailrelays', 'mr');
  const kubectl = (args: string[], input?: string) => cp.kubectl(['-n', ns, ...args], input === undefined ? {} : { input });
  const events = async () => (JSON.parse(await kubectl(['get', 'events', '-o', 'json'])) as { items: { reason: string; note?: string; message?: string }[] }).items;
  const admin = async (ordinal: number, token: string, path: string) => {
    const res = await fetch(`http://127.0.0.${ordinal + 2}:${adminPort}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return (await res.json()) as Record<string, unknown>;
  };
  const operatorArgs = ['--resync', '2s', '--reputation-interval', '1s', '--relay-admin-port', String(adminPort)];

  before(async () => {
    cp = await getSharedControlPlane();
    rest = new RestClient(cp.kubeConfig());
    await applyCrds(cp);
    ns = await cp.newNamespace('drain');
    sink = await startMxServer('127.0.0.1', 0, { onRcpt: () => ({ code: 451, text: '4.7.1 later' }) });
    operator = await startOperator(cp, ns, operatorArgs);
  });

  after(async () => {
    await operator?.stop();
    for (const r of relays) if (r.child.exitCode === null) r.child.kill('SIGTERM');
  });

  it('keeps the StatefulSet until the leaving pods handed every message to the staying one, then shrinks it and deletes only their claims', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'mailrelay.dev/v1alpha1',
        kind: 'MailRelay',
        metadata: { name: 'mr' },
        spec: { replicas: 3, hostname: 'relay.example.com', listeners: [{ name: 'internal', port: 2525, tls: 'none', auth: 'none' }], http: { enabled: false }, delivery: { mode: 'mx' }, queue: { storage: { size: '1Gi' } } },
      }),
    );
    await waitFor('the StatefulSet', async () => (await get<V1StatefulSet>('apps/v1', 'statefulsets', 'mr'))?.spec?.replicas === 3, 30_000);
    const secret = await get<V1Secret>('v1', 'secrets', 'mr-auth');
    const token = Buffer.from(secret!.data!['admin.token']!, 'base64').toString('utf8');

    // the pods: relay processes on 127.0.0.2-4, and their Pod objects and claims
    for (let ordinal = 0; ordinal < 3; ordinal++) {
      const dir = await tempDir();
      const tokenFile = join(dir, 'admin.token');
      writeFileSync(tokenFile, token);
      const address = `127.0.0.${ordinal + 2}`;
      relays.push(
        await startRelayProcess(
          writeConfig(dir, {
            hostname: `mr-${ordinal}.test`,
            listeners: [{ name: 'plain', address: '127.0.0.1', port: 0 }],
            trustedNetworks: ['127.0.0.0/8'],
            queue: { dir: join(dir, 'spool'), retrySchedule: ['1h'] },
            delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
            metrics: { address, port: 0 },
            admin: { address, port: adminPort, tokenFile },
          }),
        ),
      );
      const name = `mr-${ordinal}`;
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: relayPodLabels('mr') }, spec: { containers: [{ name: 'relay', image: 'example.test/mail-relay:test' }] } }));
      await rest.request('PATCH', resourcePath('v1', 'pods', ns, name, 'status'), {
        body: { status: { phase: 'Running', podIP: address, podIPs: [{ ip: address }], conditions: [{ type: 'Ready', status: 'True' }] } },
        contentType: 'application/merge-patch+json',
      });
      await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: `spool-mr-${ordinal}` }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }));
    }
    // mail queued on the pods that will leave (the smarthost defers it)
    const acknowledged: string[] = [];
    for (const r of relays.slice(1)) acknowledged.push(...(await sendLoad({ port: r.ports.plain!, concurrency: 4, maxMessages: 40, bodySize: 1024 })).acknowledged);
    assert.equal(acknowledged.length, 80);

    await kubectl(['patch', 'mailrelay', 'mr', '--type', 'merge', '-p', '{"spec":{"replicas":1}}']);
    await waitFor('the leaving pods out of the Service', async () => {
      const pods = await Promise.all([1, 2].map((n) => get<V1Pod>('v1', 'pods', `mr-${n}`)));
      return pods.every((p) => p?.metadata?.labels?.['mailrelay.dev/serving'] === 'false');
    }, 30_000);
    assert.equal((await get<V1Pod>('v1', 'pods', 'mr-0'))?.metadata?.labels?.['mailrelay.dev/serving'], 'true');
    await waitFor('status.drain', async () => (await relay())?.status?.drain?.toReplicas === 1, 30_000);
    assert.equal(condition(await relay(), 'Draining')?.status, 'True');
    assert.ok((await events()).some((e) => e.reason === 'DrainStarted'));

    // an operator restarted mid-drain resumes it from status and the pods' labels
    await operator!.stop();
    operator = await startOperator(cp, ns, operatorArgs);

    await waitFor('the StatefulSet shrinks', async () => (await get<V1StatefulSet>('apps/v1', 'statefulsets', 'mr'))?.spec?.replicas === 1, 90_000);
    for (const n of [1, 2]) assert.deepEqual([(await admin(n, token, '/v1/drain')).state, (await admin(n, token, '/v1/drain')).left], ['drained', 0]);
    // status is written after the StatefulSet in the same pass
    await waitFor('status.drain shows the pods drained', async () => (await relay())?.status?.drain?.pods?.every((p) => p.drained) ?? false, 10_000);
    const drained = (await relay())!.status!.drain!;
    assert.deepEqual(drained.pods, [
      { name: 'mr-1', left: 0, drained: true },
      { name: 'mr-2', left: 0, drained: true },
    ]);
    // every acknowledged message is now on the staying pod
    const list = (await admin(0, token, '/v1/queue?limit=1000')) as { messages: Array<{ id: string }> };
    assert.deepEqual(list.messages.map((m) => m.id).sort(), [...acknowledged].sort());
    const claimsBefore = await Promise.all([0, 1, 2].map((n) => get<V1PersistentVolumeClaim>('v1', 'persistentvolumeclaims', `spool-mr-${n}`)));
    assert.ok(claimsBefore.every((c) => c && !c.metadata?.deletionTimestamp), 'no claim is deleted while its pod exists');

    // the StatefulSet controller's part: the pods above the new size go
    for (const n of [1, 2]) {
      await kubectl(['delete', 'pod', `mr-${n}`, '--grace-period=0', '--force', '--wait=false']);
      relays[n]!.child.kill('SIGTERM');
    }
    const gone = async (n: number) => {
      const c = await get<V1PersistentVolumeClaim>('v1', 'persistentvolumeclaims', `spool-mr-${n}`);
      // no PVC protection controller runs here: a deleted claim keeps its finalizer
      return c === undefined || !!c.metadata?.deletionTimestamp;
    };
    await waitFor('the drained claims deleted', async () => (await gone(1)) && (await gone(2)), 30_000);
    assert.equal(await gone(0), false, 'the staying pod keeps its claim');
    await waitFor('status.drain cleared', async () => (await relay())?.status?.drain === undefined, 30_000);
    assert.equal(condition(await relay(), 'Draining')?.status, 'False');
    assert.ok((await events()).some((e) => e.reason === 'DrainFinished'));
  });
});
