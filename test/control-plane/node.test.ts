import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startControlPlane } from './control-plane.ts';
import type { ControlPlane } from './control-plane.ts';
import { nodeHostLeftovers } from './host-leftovers.ts';
import { holdNodeTestLock } from './node-test-lock.ts';
import { TOUCHED_SYSCTLS } from './node-config.ts';
import { writeOciArchive } from './oci-archive.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from './test-timeouts.ts';

const here = dirname(fileURLToPath(import.meta.url));
const probeSource = join(here, 'node-probe', 'node-probe.c');
const PROBE_IMAGE = 'localhost/mail-relay-test/node-probe:1';

function sysctls(): Record<string, string> {
  return Object.fromEntries(TOUCHED_SYSCTLS.map((key) => [key, readFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, 'utf8').trim()]));
}

async function podPhase(cp: ControlPlane, namespace: string, name: string, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const phase = await cp.kubectl(['get', 'pod', name, '-n', namespace, '-o', 'jsonpath={.status.phase}']);
    if (phase === 'Succeeded' || phase === 'Failed') return phase;
    if (Date.now() > deadline) {
      assert.fail(`pod ${name} still ${phase} after ${timeoutMs} ms:\n${await cp.kubectl(['describe', 'pod', name, '-n', namespace])}`);
    }
    await sleep(500);
  }
}

function probePod(name: string, extra: { args?: string[]; env?: object[]; volumes?: object[]; volumeMounts?: object[] } = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      securityContext: { runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, runAsNonRoot: true },
      containers: [
        {
          name: 'probe',
          image: PROBE_IMAGE,
          imagePullPolicy: 'Never',
          args: extra.args ?? [],
          env: extra.env ?? [],
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          volumeMounts: extra.volumeMounts ?? [],
        },
      ],
      volumes: extra.volumes ?? [],
    },
  });
}

describe('control plane with a real node', () => {
  let cp: ControlPlane;
  let work: string;
  let sysctlsBefore: Record<string, string>;
  let releaseTestLock: (() => void) | undefined;

  before(
    async () => {
      releaseTestLock = await holdNodeTestLock();
      assert.deepEqual(nodeHostLeftovers(), [], 'the host must be clean before the node starts');
      sysctlsBefore = sysctls();
      cp = await startControlPlane({ node: true });
      work = mkdtempSync(join(tmpdir(), 'node-probe-'));
      const program = join(work, 'node-probe');
      execFileSync('gcc', ['-Os', '-Wall', '-Werror', '-static', '-o', program, probeSource]);
      const archive = join(work, 'node-probe.tar');
      writeOciArchive(archive, { name: PROBE_IMAGE, program, entrypoint: ['/node-probe'] });
      cp.node!.importImage(archive);
    },
    { timeout: SETUP_TIMEOUT_MS },
  );

  after(async () => {
    await cp?.stop();
    rmSync(work, { recursive: true, force: true });
    releaseTestLock?.();
  });

  it('runs a non-root pod that gets a ServiceAccount token and reaches the API server through the kubernetes Service', { timeout: TEST_TIMEOUT_MS }, async () => {
    const namespace = await cp.newNamespace('node-probe');
    await cp.kubectl(['apply', '-n', namespace, '-f', '-'], { input: probePod('reach-api') });
    assert.equal(await podPhase(cp, namespace, 'reach-api'), 'Succeeded');
    // through the API server to the kubelet: the same path `kubectl logs` of any pod takes
    assert.match(await cp.kubectl(['logs', '-n', namespace, 'reach-api']), /connected to the kubernetes Service at 198\.19\.0\.1:443/);
  });

  it("cannot reach the kubelet's API from a pod (the kubelet lets anonymous callers in)", { timeout: TEST_TIMEOUT_MS }, async () => {
    const namespace = await cp.newNamespace('node-kubelet');
    const port = await cp.kubectl(['get', 'node', cp.node!.name, '-o', 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}']);
    assert.match(port, /^\d+$/);
    const denied = `${cp.node!.ip}:${port}`;
    await cp.kubectl(['apply', '-n', namespace, '-f', '-'], { input: probePod('kubelet', { env: [{ name: 'PROBE_DENIED', value: denied }] }) });
    assert.equal(await podPhase(cp, namespace, 'kubelet'), 'Succeeded');
    assert.match(await cp.kubectl(['logs', '-n', namespace, 'kubelet']), new RegExp(`^refused ${denied.replace(/\./g, '\\.')}$`, 'm'));
  });

  it('binds a PersistentVolumeClaim to a local PersistentVolume that the pod writes to', { timeout: TEST_TIMEOUT_MS }, async () => {
    const namespace = await cp.newNamespace('node-pvc');
    const claim = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '100Mi' } } } };
    await cp.kubectl(['apply', '-n', namespace, '-f', '-'], { input: JSON.stringify(claim) });
    const pod = probePod('write-pvc', {
      args: ['/data/proof'],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
      volumeMounts: [{ name: 'data', mountPath: '/data' }],
    });
    await cp.kubectl(['apply', '-n', namespace, '-f', '-'], { input: pod });
    assert.equal(await podPhase(cp, namespace, 'write-pvc'), 'Succeeded', await cp.kubectl(['logs', '-n', namespace, 'write-pvc']).catch(String));
    assert.equal(await cp.kubectl(['get', 'pvc', 'data', '-n', namespace, '-o', 'jsonpath={.status.phase}']), 'Bound');
    const volume = await cp.kubectl(['get', 'pvc', 'data', '-n', namespace, '-o', 'jsonpath={.spec.volumeName}']);
    const path = await cp.kubectl(['get', 'pv', volume, '-o', 'jsonpath={.spec.local.path}']);
    assert.equal(readFileSync(join(path, 'proof'), 'utf8'), 'written by a pod\n');
  });

  it('stop() ends every node process and leaves no address, link, iptables chain, mount or sysctl change behind', { timeout: TEST_TIMEOUT_MS }, async () => {
    const pids = readFileSync(join(cp.dir, 'pids'), 'utf8').trim().split('\n').map(Number);
    assert.equal(pids.length, 7, 'etcd, kube-apiserver, containerd, kubelet, kube-proxy, controller manager, scheduler');
    assert.notDeepEqual(nodeHostLeftovers(), [], 'a running node changes the host (else this test proves nothing)');
    await cp.stop();
    assert.deepEqual(nodeHostLeftovers(), []);
    assert.deepEqual(sysctls(), sysctlsBefore);
    assert.equal(existsSync(cp.dir), false);
    for (const pid of pids) assert.equal(existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== '', false, `pid ${pid} still runs`);
  });

  it('the watchdog undoes the host changes when the process that started the node is SIGKILLed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'cli.ts'), 'start', '--node'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const kubeconfig = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => reject(new Error(`cli exited ${code}:\n${stderr}`)));
    });
    const env = { ...process.env, KUBECONFIG: kubeconfig };
    const kubectl = (args: string[], input?: string): string => execFileSync(cp.binaries.kubectl, args, { env, input, encoding: 'utf8' });
    kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pause' }, spec: { containers: [{ name: 'pause', image: 'localhost/mail-relay-test/pause:v1.34.4', imagePullPolicy: 'Never' }] } }));
    const deadline = Date.now() + 60_000;
    while (kubectl(['get', 'pod', 'pause', '-o', 'jsonpath={.status.phase}']) !== 'Running') {
      assert.ok(Date.now() < deadline, 'the pause pod runs');
      await sleep(300);
    }
    assert.ok(nodeHostLeftovers().some((line) => line.startsWith('process ')), 'a running pod has a containerd shim');
    child.kill('SIGKILL');
    const cleanBy = Date.now() + 60_000;
    while (nodeHostLeftovers().length > 0 || existsSync(dirname(kubeconfig))) {
      if (Date.now() > cleanBy) assert.fail(`left behind:\n${nodeHostLeftovers().join('\n')}`);
      await sleep(300);
    }
    assert.deepEqual(sysctls(), sysctlsBefore);
  });
});
