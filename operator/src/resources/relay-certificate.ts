import type { KubernetesObject } from '@kubernetes/client-node';
import type { MailRelay } from '../api/v1alpha1/types.ts';
import { relayLabels } from './labels.ts';
import { names } from './names.ts';
import { ownedMeta } from './owner.ts';

/** A cert-manager Certificate for the relay's hostname, when spec.tls.issuerRef is set. */
export function buildCertificate(relay: MailRelay): (KubernetesObject & { spec: Record<string, unknown> }) | undefined {
  const issuerRef = relay.spec.tls?.issuerRef;
  if (!issuerRef) return undefined;
  const name = relay.metadata.name;
  return {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: ownedMeta(relay, names.relayCertificate(name), relayLabels(name)),
    spec: {
      secretName: names.relayCertificate(name),
      dnsNames: [relay.spec.hostname],
      issuerRef: { name: issuerRef.name, kind: issuerRef.kind, group: issuerRef.group },
      privateKey: { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Always' },
      usages: ['server auth'],
    },
  };
}
