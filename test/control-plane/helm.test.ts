import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { getSharedControlPlane } from './control-plane.ts';
import type { ControlPlane } from './control-plane.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from './test-timeouts.ts';

function writeChart(root: string): string {
  const chart = join(root, 'greeting');
  mkdirSync(join(chart, 'templates'), { recursive: true });
  writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: greeting\nversion: 0.1.0\nkubeVersion: ">=1.30.0-0"\n');
  writeFileSync(join(chart, 'values.yaml'), 'greeting: hello\n');
  writeFileSync(
    join(chart, 'templates', 'configmap.yaml'),
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: {{ .Release.Name }}-greeting',
      'data:',
      '  greeting: {{ .Values.greeting | quote }}',
      '  release: {{ .Release.Name | quote }}',
      '',
    ].join('\n'),
  );
  return chart;
}

describe('helm against the test control plane', () => {
  let cp: ControlPlane;
  let scratch: string;
  let chart: string;

  before(async () => {
    cp = await getSharedControlPlane();
    scratch = mkdtempSync(join(tmpdir(), 'helm-chart-'));
    chart = writeChart(scratch);
  }, { timeout: SETUP_TIMEOUT_MS });

  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('renders a chart with helm template', { timeout: TEST_TIMEOUT_MS }, async () => {
    const out = await cp.helm(['template', 'demo', chart, '--set', 'greeting=bonjour']);
    const docs = parseAllDocuments(out).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> });
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    assert.equal(configMap?.metadata?.name, 'demo-greeting');
    assert.deepEqual(configMap?.data, { greeting: 'bonjour', release: 'demo' });
  });

  it('installs, lists and uninstalls a release with --kubeconfig', { timeout: TEST_TIMEOUT_MS }, async () => {
    const namespace = await cp.newNamespace('helm');
    const common = ['--kubeconfig', cp.kubeconfigPath, '--namespace', namespace];
    await cp.helm(['install', 'demo', chart, ...common, '--set', 'greeting=hallo', '--wait=watcher', '--timeout=60s']);

    const core = cp.kubeConfig().makeApiClient(CoreV1Api);
    const configMap = await core.readNamespacedConfigMap({ name: 'demo-greeting', namespace });
    assert.deepEqual(configMap.data, { greeting: 'hallo', release: 'demo' });
    assert.equal(configMap.metadata?.labels?.['app.kubernetes.io/managed-by'], 'Helm');

    const releases = JSON.parse(await cp.helm(['list', ...common, '-o', 'json'])) as Array<{ name: string; status: string }>;
    assert.deepEqual(
      releases.map((r) => [r.name, r.status]),
      [['demo', 'deployed']],
    );

    await cp.helm(['uninstall', 'demo', ...common, '--wait', '--timeout=60s']);
    const gone = await core.readNamespacedConfigMap({ name: 'demo-greeting', namespace }).then(
      () => 'still there',
      (err: unknown) => (err as { code?: number }).code,
    );
    assert.equal(gone, 404);
  });
});
