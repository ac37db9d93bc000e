import { fileURLToPath } from 'node:url';
import type { ControlPlane } from '../control-plane/control-plane.ts';

export const crdDir = fileURLToPath(new URL('../../crds', import.meta.url));

let crdsApplied: Promise<void> | undefined;

/** Applies crds/ once per process and waits until the API serves the kinds. */
export function applyCrds(cp: ControlPlane): Promise<void> {
  crdsApplied ??= (async () => {
    await cp.kubectl(['apply', '--server-side', '--force-conflicts', '-f', crdDir]);
    await cp.kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/mailrelays.mailrelay.dev', 'crd/sendingdomains.mailrelay.dev']);
  })();
  return crdsApplied;
}

