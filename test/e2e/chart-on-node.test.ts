import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { dkimVerify } from 'mailauth';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import type { SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { Informer } from '../../operator/src/kube/informer.ts';
import { startControlPlane } from '../control-plane/control-plane.ts';
import type { ControlPlane } from '../control-plane/control-plane.ts';
import { holdNodeTestLock } from '../control-plane/node-test-lock.ts';
import { repoRoot } from '../control-plane/paths.ts';
import { SETUP_TIMEOUT_MS } from '../control-plane/test-timeouts.ts';
import { ensureProjectImage } from '../image/project-image.ts';
import { makeCertificates } from '../helpers/certs.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import type { DnsServer } from '../helpers/dns-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { condition, getJson } from '../operator/operator-helpers.ts';

const RELAY = 'e2e';
const TEST_TIMEOUT_MS = 240_000;

interface PodList {
  items: Array<{
    metadata: { name: string; labels?: Record<string, string> };
    spec: { serviceAccountName?: string; securityContext?: { runAsUser?: number }; volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }> };
    status: { phase?: string; conditions?: Array<{ type: string; status: string }>; containerStatuses?: Array<{ restartCount: number; ready: boolean }> };
  }>;
}

interface Sunk {
  to: string[];
  body: Buffer;
}

interface Sink {
  port: number;
  messages: Sunk[];
  /** Share of recipients answered 451 (a smarthost that defers some mail). */
  deferShare: number;
  close(): Promise<void>;
}

/**
 * The smarthost, on the node IP (the host as pods see it). Not test/helpers' mx-server: that one
 * closes itself in an after() hook, which would run at the end of this file's before().
 */
async function startSink(address: string): Promise<Sink> {
  const messages: Sunk[] = [];
  const state = { deferShare: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onRcptTo(_address, _session, callback) {
      if (Math.random() < state.deferShare) return callback(Object.assign(new Error('4.7.1 try again later'), { responseCode: 451 }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({ to: session.envelope.rcptTo.map((r) => r.address), body: Buffer.concat(chunks) });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    messages,
    get deferShare() {
      return state.deferShare;
    },
    set deferShare(share: number) {
      state.deferShare = share;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

const ready = (pod: PodList['items'][number]): boolean => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * The product as a platform team installs it: the chart's operator as a pod under its own
 * ServiceAccount and RBAC, relay pods the operator declares, mail through the relay's ClusterIP
 * Service (kube-proxy) out to a smarthost on the host, DKIM-signed.
 */
describe('the chart on a real node', () => {
  let cp: ControlPlane;
  let dns: DnsServer;
  let sink: Sink;
  let publisher: Informer<SendingDomain & KubernetesObject> | undefined;
  let releaseTestLock: (() => void) | undefined;
  let namespace: string;
  let clusterIp: string;
  const work = mkdtempSync(join(tmpdir(), 'chart-on-node-'));
  const password = randomBytes(12).toString('base64url');
  const token = randomBytes(24).toString('base64url');
  const certs = makeCertificates(work, 'localhost');

  const pods = async (selector: string): Promise<PodList['items']> =>
    (JSON.parse(await cp.kubectl(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json'])) as PodList).items;
  const relayPods = () => pods(`app.kubernetes.io/instance=${RELAY},app.kubernetes.io/name=mail-relay`);
  const dkimOf = async (message: Sunk): Promise<string[]> => {
    const resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([dns.server]);
    const resolve = (name: string, rrtype: string): Promise<unknown> => resolver.resolve(name, rrtype) as Promise<unknown>;
    const result = await dkimVerify(message.body, { resolver: resolve as never });
    return result.results.map((r) => `${r.status.result} ${r.signingDomain ?? ''}`.trim());
  };
  const smtp = () =>
    nodemailer.createTransport({
      host: clusterIp,
      port: 587,
      requireTLS: true,
      tls: { ca: readFileSync(certs.caFile), servername: 'localhost' },
      auth: { user: 'app', pass: password },
    });

  before(
    async () => {
      releaseTestLock = await holdNodeTestLock();
      const [controlPlane, image] = await Promise.all([startControlPlane({ node: true }), ensureProjectImage()]);
      cp = controlPlane;
      const node = cp.node!;
      node.importImage(image.archive);

      // the internet's DNS and the smarthost, on the node IP: pods reach the host there, and nowhere else
      dns = await startDnsServer({}, { address: node.ip });
      sink = await startSink(node.ip);
      publisher = new Informer<SendingDomain & KubernetesObject>(cp.kubeConfig(), { apiVersion: 'mailrelay.dev/v1alpha1', kind: 'SendingDomain', plural: 'sendingdomains', namespaces: 'all' });
      const publish = (sd: SendingDomain): void => {
        for (const r of sd.status?.dnsRecords ?? []) dns.set(r.name, { txt: [r.strings ?? [r.value]] });
      };
      publisher.on('add', publish).on('update', publish);
      publisher.start();

      namespace = await cp.newNamespace('chart');
      await cp.helm([
        'install', 'mro', join(repoRoot, 'charts', 'mail-relay-operator'), '--namespace', namespace,
        '--set', `image.repository=${image.repository}`, '--set', `image.tag=${image.tag}`, '--set', 'image.pullPolicy=Never',
        '--set', 'operator.replicas=2',
        '--set-json', `operator.dnsResolvers=${JSON.stringify([dns.server])}`,
        '--wait', '--timeout', '120s',
      ], { timeoutMs: 150_000 });

      await cp.kubectl(['create', 'secret', 'tls', 'e2e-tls', '-n', namespace, `--cert=${certs.certFile}`, `--key=${certs.keyFile}`]);
      await cp.kubectl(['create', 'secret', 'generic', 'e2e-users', '-n', namespace, `--from-literal=app=${password}`]);
      await cp.kubectl(['create', 'secret', 'generic', 'e2e-api-tokens', '-n', namespace, `--from-literal=app=${token}`]);
    },
    { timeout: SETUP_TIMEOUT_MS },
  );

  after(async () => {
    publisher?.stop();
    await cp?.stop();
    await sink?.close();
    await dns?.close();
    rmSync(work, { recursive: true, force: true });
    releaseTestLock?.();
  });

  it('runs the operator as Ready pods under the chart\'s ServiceAccount, non-root, one of them leading', { timeout: TEST_TIMEOUT_MS }, async () => {
    const operators = await pods('app.kubernetes.io/name=mail-relay-operator');
    assert.equal(operators.length, 2);
    for (const pod of operators) {
      assert.ok(ready(pod), `${pod.metadata.name} Ready`);
      assert.equal(pod.spec.serviceAccountName, 'mro-mail-relay-operator');
      assert.equal(pod.spec.securityContext?.runAsUser, 65532);
    }
    const holder = await cp.kubectl(['get', 'lease', 'mail-relay-operator', '-n', namespace, '-o', 'jsonpath={.spec.holderIdentity}']);
    assert.ok(operators.some((p) => p.metadata.name === holder), `the Lease is held by an operator pod (${holder})`);
    assert.match(await cp.kubectl(['logs', '-n', namespace, holder]), /"leading: starting controllers"/);
  });

  it('makes two relay pods that become Ready through their own probes, each with its spool on a bound PVC', { timeout: TEST_TIMEOUT_MS }, async () => {
    const manifest = [
      {
        apiVersion: 'mailrelay.dev/v1alpha1',
        kind: 'MailRelay',
        metadata: { name: RELAY },
        spec: {
          replicas: 2,
          hostname: 'relay.e2e.test',
          listeners: [{ name: 'submission', port: 587, tls: 'starttls', auth: 'required', submission: true }],
          tls: { secretName: 'e2e-tls' },
          auth: { usersSecretName: 'e2e-users' },
          http: { tokensSecretName: 'e2e-api-tokens' },
          delivery: { mode: 'smarthost', smarthost: { host: cp.node!.ip, port: sink.port, tls: 'none' } },
          queue: { retrySchedule: ['2s', '5s', '10s'], storage: { size: '100Mi' } },
        },
      },
      {
        apiVersion: 'mailrelay.dev/v1alpha1',
        kind: 'SendingDomain',
        metadata: { name: 'example-com' },
        spec: { domain: 'example.com', relayRef: { name: RELAY }, dkim: { selector: 'e2e', generate: { algorithm: 'rsa-sha256' } }, dns: { dmarcPolicy: 'none' } },
      },
    ];
    await cp.kubectl(['apply', '-n', namespace, '-f', '-'], { input: manifest.map((m) => JSON.stringify(m)).join('\n') });
    await waitFor('two Ready relay pods', async () => {
      const relays = await relayPods();
      return relays.length === 2 && relays.every(ready);
    }, 180_000);
    for (const pod of await relayPods()) {
      const claim = pod.spec.volumes?.find((v) => v.name === 'spool')?.persistentVolumeClaim?.claimName;
      assert.ok(claim, `${pod.metadata.name} mounts a spool claim`);
      assert.equal(await cp.kubectl(['get', 'pvc', claim, '-n', namespace, '-o', 'jsonpath={.status.phase}']), 'Bound');
      assert.equal(pod.spec.securityContext?.runAsUser, 65532);
    }
    await waitFor('MailRelay Ready', async () => condition(await getJson(cp, namespace, `mailrelay/${RELAY}`), 'Ready')?.status === 'True', 60_000);
    clusterIp = await cp.kubectl(['get', 'service', RELAY, '-n', namespace, '-o', 'jsonpath={.spec.clusterIP}']);
    assert.match(clusterIp, /^198\.19\.0\.\d+$/);
    const names = (await relayPods()).map((p) => p.metadata.name);
    assert.match(await cp.kubectl(['logs', '-n', namespace, names[0]!]), /"level":"info"/);
  });

  it('delivers mail sent with AUTH over STARTTLS to the ClusterIP Service, DKIM-signed, to the smarthost on the host', { timeout: TEST_TIMEOUT_MS }, async () => {
    await waitFor('the relays hold the DKIM key', async () => {
      const sd = (await getJson(cp, namespace, 'sendingdomain/example-com')) as { status?: { dkim?: { secretName?: string } } } | undefined;
      return !!sd?.status?.dkim?.secretName;
    }, 60_000);
    // the key rolls the relay pods: wait until the roll is over and kube-proxy routes the Service
    await waitFor('the relay StatefulSet rolled out with the key', async () => {
      const sts = JSON.parse(await cp.kubectl(['get', 'statefulset', RELAY, '-n', namespace, '-o', 'json'])) as {
        metadata: { generation: number };
        spec: { template: { spec: { volumes?: Array<{ name: string }> } } };
        status: { observedGeneration?: number; readyReplicas?: number; updatedReplicas?: number; currentRevision?: string; updateRevision?: string };
      };
      const { status } = sts;
      const withKey = sts.spec.template.spec.volumes?.some((v) => v.name === 'dkim') ?? false;
      return withKey && status.observedGeneration === sts.metadata.generation && status.readyReplicas === 2 && status.updatedReplicas === 2 && status.currentRevision === status.updateRevision;
    }, 180_000);
    await waitFor('the ClusterIP Service answers', () => tcpOpen(clusterIp, 587), 30_000);
    // A connection cut before the greeting has queued nothing, and a client connects again. Seen
    // once in five runs right after the rollout; the cause is not found yet (kube-proxy's rules
    // lagging the EndpointSlice is the likeliest). A reset at a later step, or a third, fails.
    const send = () => smtp().sendMail({ from: 'app@example.com', to: 'someone@gmail.example', subject: 'node e2e smtp', text: 'hello over SMTP through kube-proxy' });
    let info: Awaited<ReturnType<typeof send>> | undefined;
    for (let attempt = 1; !info; attempt++) {
      try {
        info = await send();
      } catch (err) {
        if (attempt >= 3 || (err as { command?: string }).command !== 'CONN') throw err;
        await sleep(1000);
      }
    }
    assert.match(info.response, /^250 /);
    await waitFor('the SMTP message at the sink', () => sink.messages.some((m) => m.body.includes('node e2e smtp')), 60_000);
    const got = sink.messages.find((m) => m.body.includes('node e2e smtp'))!;
    assert.deepEqual(got.to, ['someone@gmail.example']);
    assert.deepEqual(await dkimOf(got), ['pass example.com']);
  });

  it('delivers mail sent through the HTTP API on the ClusterIP Service, DKIM-signed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const service = JSON.parse(await cp.kubectl(['get', 'service', RELAY, '-n', namespace, '-o', 'json'])) as { spec: { ports: Array<{ name: string; port: number }> } };
    const httpPort = service.spec.ports.find((p) => p.name === 'http')?.port;
    assert.ok(httpPort, 'the Service maps the HTTP API');
    const res = await fetch(`http://${clusterIp}:${httpPort}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'app@example.com', to: ['reader@outlook.example'], subject: 'node e2e http', text: 'hello over HTTP' }),
    });
    assert.equal(res.status, 202, await res.clone().text());
    await waitFor('the HTTP message at the sink', () => sink.messages.some((m) => m.body.includes('node e2e http')), 60_000);
    assert.deepEqual(await dkimOf(sink.messages.find((m) => m.body.includes('node e2e http'))!), ['pass example.com']);
  });

  /** Sends one message per connection until stopped; returns the subjects that got 250. */
  const sendUntil = (stop: { done: boolean }, prefix: string, accepted: string[] = [], refused: string[] = []): Promise<{ accepted: string[]; refused: string[] }> =>
    (async () => {
      for (let i = 0; !stop.done && i < 5000; i++) {
        const subject = `${prefix} ${i}`;
        try {
          const info = await smtp().sendMail({ from: 'app@example.com', to: 'load@gmail.example', subject, text: `message ${i}` });
          if (/^250 /.test(info.response)) accepted.push(subject);
        } catch (err) {
          // a cut connection or a refusal, never an acceptance: the message is the client's to retry
          refused.push(`${subject}: ${(err as { responseCode?: number }).responseCode ?? (err as Error).message}`);
        }
      }
      return { accepted, refused };
    })();
  const delivered = (subject: string): boolean => sink.messages.some((m) => m.body.includes(`Subject: ${subject}\r\n`));

  // each terminating relay waits up to its --shutdown-grace (25 s) for sessions in DATA: with a
  // client sending all along, a roll of two pods can take two minutes
  it('rolls the relay pods one at a time on a spec change while a client sends: nothing accepted is lost, refusals are temporary', { timeout: 2 * TEST_TIMEOUT_MS }, async () => {
    const hashOf = (pod: PodList['items'][number]): string | undefined => (pod as { metadata: { annotations?: Record<string, string> } }).metadata.annotations?.['mailrelay.dev/config-hash'];
    const hashesBefore = new Set((await relayPods()).map(hashOf));
    const stop = { done: false };
    const accepted: string[] = [];
    const refused: string[] = [];
    const sending = sendUntil(stop, 'rolling', accepted, refused);
    await waitFor('the client is sending', () => accepted.length >= 5, 30_000);
    await cp.kubectl(['patch', 'mailrelay', RELAY, '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { hostname: 'relay2.e2e.test' } })]);
    let fewestReady = 2;
    await waitFor('both relay pods Ready with the new configuration', async () => {
      const relays = await relayPods();
      fewestReady = Math.min(fewestReady, relays.filter(ready).length);
      return relays.length === 2 && relays.every((p) => ready(p) && !hashesBefore.has(hashOf(p)));
    }, 360_000);
    await sleep(1000);
    stop.done = true;
    await sending;
    assert.ok(fewestReady >= 1, 'one relay pod kept serving throughout the roll');
    const permanent = refused.filter((r) => /: 5\d\d$/.test(r));
    assert.deepEqual(permanent, [], 'no permanent (5xx) refusal during the roll');
    await waitFor('every accepted message at the sink', () => accepted.every(delivered), 120_000);
  });

  it('delivers every message that got 250 after a relay container is SIGKILLed mid-stream and comes back on the same PVC', { timeout: TEST_TIMEOUT_MS }, async () => {
    const victim = `${RELAY}-0`;
    const claim = `spool-${victim}`;
    const volumeBefore = await cp.kubectl(['get', 'pvc', claim, '-n', namespace, '-o', 'jsonpath={.spec.volumeName}']);
    const restartsBefore = Number(await cp.kubectl(['get', 'pod', victim, '-n', namespace, '-o', 'jsonpath={.status.containerStatuses[0].restartCount}']));
    const containerId = (await cp.kubectl(['get', 'pod', victim, '-n', namespace, '-o', 'jsonpath={.status.containerStatuses[0].containerID}'])).replace(/^containerd:\/\//, '');
    assert.match(containerId, /^[0-9a-f]{64}$/);

    const stop = { done: false };
    const acceptedSoFar: string[] = [];
    const sending = sendUntil(stop, 'sigkill', acceptedSoFar);
    await waitFor('some messages accepted before the kill', () => acceptedSoFar.length >= 10, 30_000);
    execFileSync('ctr', ['--address', cp.node!.containerdSocket, '--namespace', 'k8s.io', 'tasks', 'kill', '--signal', 'SIGKILL', containerId]);
    await waitFor('the relay container restarted and Ready', async () => {
      const pod = (await relayPods()).find((p) => p.metadata.name === victim);
      return !!pod && ready(pod) && (pod.status.containerStatuses?.[0]?.restartCount ?? 0) > restartsBefore;
    }, 120_000);
    await sleep(2000);
    stop.done = true;
    const { accepted } = await sending;
    assert.ok(accepted.length >= 5, `accepted ${accepted.length}`);
    await waitFor('every accepted message at the sink', () => accepted.every(delivered), 120_000);
    assert.equal(await cp.kubectl(['get', 'pvc', claim, '-n', namespace, '-o', 'jsonpath={.spec.volumeName}']), volumeBefore, 'the pod came back on the same volume');
  });

  it('another operator pod takes the Lease and reconciles when the leading operator pod is deleted at once (grace 0)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const leaseHolder = () => cp.kubectl(['get', 'lease', 'mail-relay-operator', '-n', namespace, '-o', 'jsonpath={.spec.holderIdentity}']);
    const leader = await leaseHolder();
    const operators = await pods('app.kubernetes.io/name=mail-relay-operator');
    assert.ok(operators.some((p) => p.metadata.name !== leader), `a standby besides ${leader}`);
    // Not a SIGKILL of the container alone: the kubelet restarts it in the same pod, under the same
    // identity, and it simply resumes the Lease it holds.
    await cp.kubectl(['delete', 'pod', leader, '-n', namespace, '--grace-period=0', '--force']);
    let successor = '';
    await waitFor('another operator pod holds the Lease', async () => {
      successor = await leaseHolder();
      return successor !== '' && successor !== leader;
    }, 90_000);
    assert.ok((await pods('app.kubernetes.io/name=mail-relay-operator')).some((p) => p.metadata.name === successor), `${successor} is a live operator pod`);
    const sd = { apiVersion: 'mailrelay.dev/v1alpha1', kind: 'SendingDomain', metadata: { name: 'example-org' }, spec: { domain: 'example.org', relayRef: { name: RELAY }, dkim: { selector: 'e2e', generate: { algorithm: 'rsa-sha256' } }, dns: { dmarcPolicy: 'none' } } };
    await cp.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(sd) });
    await waitFor('the new leader reconciles a new SendingDomain', async () => condition(await getJson(cp, namespace, 'sendingdomain/example-org'), 'DKIMKeyReady')?.status === 'True', 60_000);
    const successorPod = async () => (await pods('app.kubernetes.io/name=mail-relay-operator')).find((p) => p.metadata.name === successor);
    const restarts = (await successorPod())?.status.containerStatuses?.[0]?.restartCount ?? 0;
    if (restarts > 0) console.log(`operator ${successor} restarted ${restarts}×; previous log:\n${await cp.kubectl(['logs', '-n', namespace, successor, '--previous']).catch((e: Error) => e.message)}`);
    assert.equal(restarts, 0, 'the new leader did not crash');
    assert.match(await cp.kubectl(['logs', '-n', namespace, successor]), /"leading: starting controllers"/);
  });

  // drains take a pod's queue to the others before the StatefulSet shrinks
  it('scales 3 → 1 while a client sends and the smarthost defers a share: every message that got 250 is delivered once, the leaving claims are deleted, the MailRelay ends Ready', { timeout: 3 * TEST_TIMEOUT_MS }, async () => {
    await cp.kubectl(['patch', 'mailrelay', RELAY, '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { replicas: 3 } })]);
    await waitFor('three Ready relay pods', async () => {
      const relays = await relayPods();
      return relays.length === 3 && relays.every(ready);
    }, 180_000);
    sink.deferShare = 0.3;
    const stop = { done: false };
    const accepted: string[] = [];
    const sending = sendUntil(stop, 'draining', accepted);
    await waitFor('the client is sending', () => accepted.length >= 20, 60_000);
    await cp.kubectl(['patch', 'mailrelay', RELAY, '-n', namespace, '--type=merge', '-p', JSON.stringify({ spec: { replicas: 1 } })]);
    let sawDrain = false;
    await waitFor('one relay pod left', async () => {
      sawDrain ||= ((await getJson(cp, namespace, `mailrelay/${RELAY}`)) as { status?: { drain?: unknown } } | undefined)?.status?.drain !== undefined;
      return (await relayPods()).length === 1;
    }, 360_000);
    stop.done = true;
    await sending;
    sink.deferShare = 0;
    assert.ok(sawDrain, 'status.drain showed the drain');
    await waitFor('every accepted message at the sink', () => accepted.every(delivered), 180_000);
    const counts = new Map<string, number>();
    for (const m of sink.messages) {
      const subject = /Subject: (draining \d+)\r\n/.exec(m.body.toString('latin1'))?.[1];
      if (subject) counts.set(subject, (counts.get(subject) ?? 0) + 1);
    }
    assert.deepEqual([...counts].filter(([, n]) => n > 1), [], 'no message delivered twice');
    await waitFor('the leaving pods claims deleted', async () => {
      const claims = JSON.parse(await cp.kubectl(['get', 'pvc', '-n', namespace, '-o', 'json'])) as { items: Array<{ metadata: { name: string } }> };
      return claims.items.every((c) => !/^spool-e2e-[12]$/.test(c.metadata.name));
    }, 120_000);
    await waitFor('MailRelay Ready and done draining', async () => {
      const mr = await getJson(cp, namespace, `mailrelay/${RELAY}`);
      return condition(mr, 'Ready')?.status === 'True' && condition(mr, 'Draining')?.status === 'False';
    }, 120_000);
    const reasons = (JSON.parse(await cp.kubectl(['get', 'events', '-n', namespace, '-o', 'json'])) as { items: Array<{ reason: string }> }).items.map((e) => e.reason);
    for (const reason of ['DrainStarted', 'DrainFinished']) assert.ok(reasons.includes(reason), reason);
  });

  it('kubectl delete mailrelay removes its relay pods and keeps their spool PVCs (persistentVolumeClaimRetentionPolicy Retain)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const claims = (await relayPods()).map((p) => p.spec.volumes?.find((v) => v.name === 'spool')?.persistentVolumeClaim?.claimName).filter((c): c is string => !!c);
    assert.equal(claims.length, 1, 'the one pod left after the scale-down');
    await cp.kubectl(['delete', 'mailrelay', RELAY, '-n', namespace, '--wait=true'], { timeoutMs: 120_000 });
    await waitFor('the relay pods are gone', async () => (await relayPods()).length === 0, 120_000);
    for (const claim of claims) assert.equal(await cp.kubectl(['get', 'pvc', claim, '-n', namespace, '-o', 'jsonpath={.status.phase}']), 'Bound', `${claim} kept`);
  });
});
