import type { V1Secret } from '@kubernetes/client-node';
import type { SendingDomain } from '../api/v1alpha1/types.ts';
import { annotations, sendingDomainLabels } from './labels.ts';
import { names } from './names.ts';
import { ownedMeta } from './owner.ts';
import type { DkimAlgorithm } from './dns-records.ts';

export const DKIM_SECRET_KEY = 'private.key';

export interface DkimSecretInput {
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
  readonly privateKeyPem: string;
  /**
   * When the operator made the key, by its own clock (rotation compares it with status times,
   * which come from the same clock; creationTimestamp is the API server's).
   */
  readonly createdAt?: string;
}

/** The Secret keeping a generated DKIM key. Its content is generated once and then only re-applied. Pure. */
export function buildDkimSecret(sd: SendingDomain, key: DkimSecretInput): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(sd, names.dkimSecret(sd.metadata.name, key.selector), sendingDomainLabels(sd.metadata.name), {
      [annotations.dkimSelector]: key.selector,
      [annotations.dkimAlgorithm]: key.algorithm,
      ...(key.createdAt ? { [annotations.dkimCreatedAt]: key.createdAt } : {}),
    }),
    type: 'Opaque',
    data: { [DKIM_SECRET_KEY]: Buffer.from(key.privateKeyPem).toString('base64') },
  };
}
