import type { V1ConfigMap, V1Secret } from '@kubernetes/client-node';
import type { MailRelay } from '../api/v1alpha1/types.ts';
import { relayLabels } from './labels.ts';
import { names } from './names.ts';
import { ownedMeta } from './owner.ts';
import { dkimKeyFile } from './relay-config.ts';

export function buildConfigMap(relay: MailRelay, relayYaml: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: ownedMeta(relay, names.relayConfigMap(relay.metadata.name), relayLabels(relay.metadata.name)),
    data: { 'relay.yaml': relayYaml },
  };
}

/**
 * Every DKIM key the relay's pods may need, keyed by file name: the signing key of each domain
 * and, during a rotation, the next one (there before relay.yaml names it) and the previous one
 * (still there should a pod start before its relay.yaml moved on). Pure.
 */
export function buildDkimKeysSecret(relay: MailRelay, keys: readonly { readonly domain: string; readonly selector: string; readonly pem: string }[]): V1Secret {
  const data: Record<string, string> = {};
  for (const k of [...keys].sort((a, b) => dkimKeyFile(a.domain, a.selector).localeCompare(dkimKeyFile(b.domain, b.selector)))) {
    data[dkimKeyFile(k.domain, k.selector)] = Buffer.from(k.pem).toString('base64');
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMeta(relay, names.relayDkimSecret(relay.metadata.name), relayLabels(relay.metadata.name)),
    type: 'Opaque',
    data,
  };
}

/** Key of the auth Secret holding the HMAC key of the pod-template config hash (config-hash.ts). */
export const CONFIG_HASH_KEY = 'config-hash.key';
/** Key of the auth Secret holding the admin API token (names.ts paths.adminTokenFile). */
export const ADMIN_TOKEN_KEY = 'admin.token';
/** Key of the auth Secret holding the HMAC key of the unsubscribe tokens (names.ts paths.unsubscribeKeyFile). */
export const UNSUBSCRIBE_KEY = 'unsubscribe.key';

/**
 * The users file (scrypt hashes only), the API tokens file, the VERP and unsubscribe keys, the admin API token
 * and the webhooks' key files (by webhookSecretKey), as the relay mounts them; and the
 * operator's config hash key, which the relay does not read.
 */
export function buildAuthSecret(
  relay: MailRelay,
  files: {
    usersYaml?: string;
    tokensYaml?: string;
    verpKey?: string;
    unsubscribeKey?: string;
    configHashKey?: string;
    adminToken?: string;
    webhookKeys?: Readonly<Record<string, string>>;
  },
): V1Secret {
  const stringData: Record<string, string> = { ...files.webhookKeys };
  if (files.configHashKey !== undefined) stringData[CONFIG_HASH_KEY] = files.configHashKey;
  if (files.adminToken !== undefined) stringData[ADMIN_TOKEN_KEY] = files.adminToken;
  if (files.usersYaml !== undefined) stringData['users.yaml'] = files.usersYaml;
  if (files.tokensYaml !== undefined) stringData['tokens.yaml'] = files.tokensYaml;
  if (files.verpKey !== undefined) stringData['verp.key'] = files.verpKey;
  if (files.unsubscribeKey !== undefined) stringData[UNSUBSCRIBE_KEY] = files.unsubscribeKey;
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
