import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from './control-plane.ts';

/**
 * Waits until every named CRD (`crd/<name>` or `<name>`) is Established. Not `kubectl wait
 * --for=condition=Established`: it fails at once ("status.conditions accessor error: <nil>")
 * when it reads a CRD whose status has no conditions yet, which a just-applied CRD may have.
 */
export async function waitForEstablished(cp: ControlPlane, crds: readonly string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.replace(/^crd\//, '');
    for (;;) {
      const status = await cp
        .kubectl(['get', 'crd', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])
        .catch(() => '');
      if (status.trim() === 'True') break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established within ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}
