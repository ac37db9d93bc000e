import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { KubernetesObject } from '@kubernetes/client-node';
import { createLogger } from '../../operator/src/log.ts';
import { Operator } from '../../operator/src/operator.ts';
import { parseOperatorOptions } from '../../operator/src/options.ts';
import type { ControlPlane } from '../control-plane/control-plane.ts';
export { applyCrds, crdDir } from './crds.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const operatorMain = `${repoRoot}operator/src/main.ts`;

/** An in-process operator for one namespace, with short intervals so tests see resyncs and DNS re-checks. */
export async function startOperator(cp: ControlPlane, namespace: string, extra: string[] = [], now?: () => Date): Promise<Operator> {
  const options = parseOperatorOptions(
    ['--kubeconfig', cp.kubeconfigPath, '--namespaces', namespace, '--no-leader-elect', '--metrics-address', '127.0.0.1', '--metrics-port', '0', '--relay-image', 'example.test/mail-relay:test', ...extra],
    {},
  );
  const operator = new Operator(options, createLogger(process.env.TEST_LOG ?? 'error', !process.env.TEST_LOG), {
    onLostLeadership: () => {
      throw new Error('an operator without leader election cannot lose leadership');
    },
    ...(now ? { now } : {}),
  });
  await operator.start();
  return operator;
}

/**
 * The operator as its own process (for leader election and kill -9): `built` runs dist/ as the
 * image does; `kubeconfig` replaces the admin one (a service account's, say).
 */
export function spawnOperator(cp: ControlPlane, args: string[], opts: { built?: boolean; kubeconfig?: string } = {}): ChildProcess {
  const entry = opts.built ? ['dist/operator/src/main.js'] : ['--import', 'tsx', operatorMain];
  return spawn(process.execPath, [...entry, '--kubeconfig', opts.kubeconfig ?? cp.kubeconfigPath, '--metrics-address', '127.0.0.1', '--metrics-port', '0', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function getJson<T = KubernetesObject & Record<string, unknown>>(cp: ControlPlane, namespace: string, resource: string): Promise<T | undefined> {
  try {
    return JSON.parse(await cp.kubectl(['get', '-n', namespace, resource, '-o', 'json'])) as T;
  } catch (err) {
    if (/NotFound|not found/.test(String((err as Error).message))) return undefined;
    throw err;
  }
}

interface WithConditions {
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
}

export function condition(obj: unknown, type: string) {
  return (obj as WithConditions | undefined)?.status?.conditions?.find((c) => c.type === type);
}
