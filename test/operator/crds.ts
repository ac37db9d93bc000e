import { fileURLToPath } from 'node:url';
import type { ControlPlane } from '../control-plane/control-plane.ts';
import { waitForEstablished } from '../control-plane/crd-established.ts';

export const crdDir = fileURLToPath(new URL('../../crds', import.meta.url));

let crdsApplied: Promise<void> | undefined;

/** Applies crds/ once per process and waits until the API serves the kinds. */
export function applyCrds(cp: ControlPlane): Promise<void> {
  crdsApplied ??= (async () => {
    await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdDir]);
    await waitForEstablished(cp, ['mailrelays.mailrelay.dev', 'sendingdomains.mailrelay.dev'], 30_000);
  })();
  return crdsApplied;
}

