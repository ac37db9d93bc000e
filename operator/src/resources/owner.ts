import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';

interface Owner {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string; namespace: string };
}

/** The controller owner reference: deletes the child with its owner and maps child events back to it. */
export function ownerReference(owner: Owner): V1OwnerReference {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of an owned object: same namespace as its owner. */
export function ownedMeta(owner: Owner, name: string, labels: Record<string, string>, annotations?: Record<string, string>): V1ObjectMeta {
  return {
    name,
    namespace: owner.metadata.namespace,
    labels,
    ...(annotations ? { annotations } : {}),
    ownerReferences: [ownerReference(owner)],
  };
}
