import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { MailRelay } from '../api/v1alpha1/types.ts';
import { relayLabels } from './labels.ts';
import { names } from './names.ts';
import { ownedMeta } from './owner.ts';

export function buildConfigMap(relay: MailRelay, relayYaml: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(relay, names.relayConfigMap(relay.metadata.name), relayLabels(relay.metadata.name)),
    data: { 'relay.yaml': relayYaml },
  };
}

/** Key of the auth Secret holding the HMAC key of the pod-template config hash (config-hash.ts). */
export const CONFIG_HASH_KEY = 'config-hash.key';
/** Key of the auth Secret holding the admin API token (names.ts paths.adminTokenFile). */
export const ADMIN_TOKEN_KEY = 'admin.token';

/**
 * The users file (scrypt hashes only), the API tokens file, the VERP key and the admin API
 * token, as the relay mounts them; and the operator's config hash key, which the relay does not read.
 */
export function buildAuthSecret(
  relay: MailRelay,
  files: { usersYaml?: string; tokensYaml?: string; verpKey?: string; configHashKey?: string; adminToken?: string },
): V1Secret {
  const stringData: Record<string, string> = {};
  if (files.configHashKey !== undefined) stringData[CONFIG_HASH_KEY] = files.configHashKey;
  if (files.adminToken !== undefined) stringData[ADMIN_TOKEN_KEY] = files.adminToken;
  if (files.usersYaml !== undefined) stringData['users.yaml'] = files.usersYaml;
  if (files.tokensYaml !== undefined) stringData['tokens.yaml'] = files.tokensYaml;
  if (files.verpKey !== undefined) stringData['verp.key'] = files.verpKey;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(relay, names.relayAuthSecret(relay.metadata.name), relayLabels(relay.metadata.name)),
    type: 'Opaque',
    // data, not stringData: the API server stores stringData as data, so applying stringData would
    // look like a change on every reconcile.
    data: Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}
