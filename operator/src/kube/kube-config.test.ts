import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OperatorError } from '../errors.ts';
import { loadKubeConfig } from './kube-config.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-config-test-'));

function kubeconfig(server: string): string {
  const path = join(dir, `config-${Math.random().toString(16).slice(2)}`);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: '${server}' } }]
users: [{ name: u, user: { token: not-a-real-token } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
  );
  return path;
}

describe('loadKubeConfig', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads an explicit path in preference to KUBECONFIG', () => {
    const explicit = kubeconfig('https://explicit.example:6443');
    const fromEnv = kubeconfig('https://env.example:6443');
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = fromEnv;
    try {
      assert.equal(loadKubeConfig(explicit).getCurrentCluster()?.server, 'https://explicit.example:6443');
      assert.equal(loadKubeConfig().getCurrentCluster()?.server, 'https://env.example:6443');
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it('fails with EOP_KUBECONFIG for a missing file or one without a current cluster', () => {
    assert.throws(() => loadKubeConfig(join(dir, 'missing')), (err: unknown) => err instanceof OperatorError && err.code === 'EOP_KUBECONFIG' && err.cause !== undefined);
    const empty = join(dir, 'empty');
    writeFileSync(empty, 'apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n');
    assert.throws(() => loadKubeConfig(empty), (err: unknown) => err instanceof OperatorError && err.code === 'EOP_KUBECONFIG');
  });
});
