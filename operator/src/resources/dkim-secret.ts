import type { V1Secret } from '@kubernetes/client-node';
import type { SendingDomain } from '../api/v1alpha1/types.ts';
import { annotations, sendingDomainLabels } from './labels.ts';
import { names } from './names.ts';
import { ownedMeta } from './owner.ts';
import type { DkimAlgorithm } from './dns-records.ts';

export const DKIM_SECRET_KEY = 'private.key';

/** The Secret keeping a generated DKIM key. Its content is generated once and then only re-applied. Pure. */
export function buildDkimSecret(sd: SendingDomain, algorithm: DkimAlgorithm, privateKeyPem: string): V1Secret {
  const selector = sd.spec.dkim.selector;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(sd, names.dkimSecret(sd.metadata.name, selector), sendingDomainLabels(sd.metadata.name), {
      [annotations.dkimSelector]: selector,
      [annotations.dkimAlgorithm]: algorithm,
    }),
    type: 'Opaque',
    data: { [DKIM_SECRET_KEY]: Buffer.from(privateKeyPem).toString('base64') },
  };
}
