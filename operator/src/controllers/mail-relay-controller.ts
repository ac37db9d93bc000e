import { randomBytes } from 'node:crypto';
import type { KubernetesObject, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import type { UserEntry } from '../../../relay/src/config/schema.ts';
import { API_VERSION, MailRelayConditions, Reasons, type MailRelay, type MailRelayStatus } from '../api/v1alpha1/types.ts';
import { describeError, isConflict } from '../errors.ts';
import { allowedDomainsFor, buildTokensFile, buildUsersFile, type TokenEntry } from '../resources/auth-files.ts';
import { buildConditions, type ConditionInput } from '../resources/conditions.ts';
import { names } from '../resources/names.ts';
import { buildConfigHash, buildHashedRelayConfig, CONFIG_HASH_KEY_MIN_LENGTH } from '../resources/config-hash.ts';
import { ADMIN_TOKEN_KEY, buildAuthSecret, buildConfigMap, buildDkimKeysSecret, CONFIG_HASH_KEY, UNSUBSCRIBE_KEY } from '../resources/relay-config-objects.ts';
import { DKIM_SECRET_KEY } from '../resources/dkim-secret.ts';
import { buildCertificate } from '../resources/relay-certificate.ts';
import { buildRelayConfig, renderRelayConfig, type RelayDomain } from '../resources/relay-config.ts';
import { buildClientService, buildHeadlessService, buildPodDisruptionBudget } from '../resources/relay-services.ts';
import { buildStatefulSet } from '../resources/relay-statefulset.ts';
import { buildRelayNetworkPolicy } from '../resources/relay-network-policy.ts';
import { RELAY_SCOPE, webhookSecretKey, type Webhook } from '../resources/relay-webhooks.ts';
import { parse } from 'yaml';
import { ownSecret, relayDomains, secretString, type ControllerContext, type ReconcileResult } from './context.ts';
import type { RelayConfigFigures } from './reputation-poller.ts';
import { reconcileDrain } from './drain-controller.ts';
import { describeDrain, type DrainStatus } from './drain-decision.ts';
import { describeRetainedQueue } from './queue-figures.ts';
import { readWebhookKeys } from './webhook-keys.ts';

/** Inputs read from Secrets; `missing` names every Secret or key that is not there yet. */
interface RelayInputs {
  readonly domains: RelayDomain[];
  readonly dkimKeys: { domain: string; selector: string; pem: string }[];
  readonly users?: UserEntry[];
  readonly tokens?: TokenEntry[];
  readonly smarthost?: { username: string; password: string };
  readonly tlsSecretName?: string;
  /** Key files of the webhooks in relay.yaml, by webhookSecretKey. */
  readonly webhookKeys: Record<string, string>;
  /** Those webhooks, for the pod's volume and the NetworkPolicy. */
  readonly webhooks: { scope: string; name: string; url: string }[];
  readonly missing: string[];
}

/**
 * Reconciles one MailRelay: renders relay.yaml from it and its SendingDomains, derives the auth
 * files from the user's Secrets, applies every owned object, and reports status. Nothing is
 * applied while a referenced Secret is missing: the pods could not start anyway.
 */
export async function reconcileMailRelay(ctx: ControllerContext, namespace: string, name: string): Promise<ReconcileResult> {
  const relay = ctx.caches.relays.get(namespace, name);
  // Deleted: owner references let the garbage collector remove what we created, but not the spool claims.
  if (!relay) {
    ctx.settle.forget(`${namespace}/${name}`);
    const retained = describeRetainedQueue(name, ctx.reputation.queue(namespace, name));
    if (retained) await ctx.events.record({ apiVersion: API_VERSION, kind: 'MailRelay', metadata: { namespace, name } }, 'Warning', Reasons.QueueRetained, retained);
    return {};
  }
  const log = ctx.logger.child({ kind: 'MailRelay', namespace, name });
  const generation = relay.metadata.generation ?? 0;

  const wait = ctx.settle.waitMs(`${namespace}/${name}`);
  if (wait > 0) return { requeueAfterMs: wait };
  const pending = pendingDomains(ctx, relay);
  if (pending > 0) {
    // Domains created together (kubectl apply -f dir/) settle their DKIM keys first, so the
    // relay's config is written and its pods rolled once rather than once per domain.
    log.debug('waiting for new sending domains to settle', { pending });
    return { requeueAfterMs: 1000 };
  }

  const inputs = await readInputs(ctx, relay);
  if (inputs.missing.length > 0) {
    const message = `waiting for ${inputs.missing.join(', ')}`;
    await writeStatus(ctx, relay, { reconciled: { status: 'False', reason: Reasons.SecretNotFound, message } });
    ctx.events.record(relay, 'Warning', Reasons.SecretNotFound, message);
    log.info('referenced secrets missing', { missing: inputs.missing });
    return {};
  }

  const relayConfig = buildRelayConfig(relay, { domains: inputs.domains, smarthostUsername: inputs.smarthost?.username });
  const relayYaml = renderRelayConfig(relayConfig);
  const usersYaml = inputs.users ? buildUsersFile(inputs.users) : undefined;
  const tokensYaml = inputs.tokens ? buildTokensFile(inputs.tokens) : undefined;
  const keys = await ownKeys(ctx, relay);
  const verpKey = relay.spec.feedback?.verpDomain ? keys.verpKey : undefined;
  const unsubscribeKey = relay.spec.unsubscribe ? keys.unsubscribeKey : undefined;
  // What the relay applies live stays out of the hash, so changing it rolls no pod: DKIM
  // selectors and keys (rotation), pauses and thresholds (buildHashedRelayConfig), and the
  // webhooks' keys (a rotated key reaches the relay as a changed file it re-reads).
  const configHash = buildConfigHash(keys.configHashKey, [renderRelayConfig(buildHashedRelayConfig(relayConfig)), usersYaml ?? '', tokensYaml ?? '', verpKey ?? '', inputs.smarthost?.password ?? '']);

  // The keys before relay.yaml: a new key file is there before the config names it.
  const desired: KubernetesObject[] = [buildDkimKeysSecret(relay, inputs.dkimKeys), buildConfigMap(relay, relayYaml)];
  // Always: it keeps the config hash key and the admin token (the relay reads the token at
  // start-up only, but it stays the same for the relay's life, so it is not in the hash).
  desired.push(buildAuthSecret(relay, { usersYaml, tokensYaml, verpKey, unsubscribeKey, configHashKey: keys.configHashKey, adminToken: keys.adminToken, webhookKeys: inputs.webhookKeys }));
  const certificate = buildCertificate(relay);
  if (certificate) desired.push(certificate);
  desired.push(buildHeadlessService(relay), buildClientService(relay), buildPodDisruptionBudget(relay));
  const networkPolicy = buildRelayNetworkPolicy(relay, inputs.webhooks.map((w) => w.url));
  if (networkPolicy) desired.push(networkPolicy);
  // A scale-down keeps the StatefulSet's size until the leaving pods have handed their queues over.
  const liveSet = ctx.caches.statefulSets.get(namespace, names.relayStatefulSet(name));
  const drain = await reconcileDrain(ctx, relay, liveSet);
  const statefulSet = buildStatefulSet(drain.replicas === relay.spec.replicas ? relay : { ...relay, spec: { ...relay.spec, replicas: drain.replicas } }, {
    defaultImage: ctx.settings.relayImage,
    configHash,
    tlsSecretName: inputs.tlsSecretName,
    dkim: inputs.dkimKeys.length > 0,
    webhooks: inputs.webhooks,
  });

  let appliedSet: V1StatefulSet | undefined;
  try {
    for (const obj of desired) {
      const outcome = await ctx.applier.apply(obj, { live: liveOf(ctx, obj) });
      if (outcome.result !== 'unchanged') log.info('applied', { object: `${obj.kind}/${obj.metadata?.name}`, result: outcome.result });
    }
    if (!networkPolicy && (await removeNetworkPolicy(ctx, relay))) log.info('deleted', { object: `NetworkPolicy/${names.relayNetworkPolicy(name)}` });
    const outcome = await ctx.applier.apply(statefulSet, { live: liveSet });
    appliedSet = outcome.object as V1StatefulSet;
    if (outcome.result !== 'unchanged') log.info('applied', { object: `StatefulSet/${name}`, result: outcome.result, configHash });
  } catch (err) {
    if (isConflict(err)) throw err;
    const message = describeError(err);
    await writeStatus(ctx, relay, { reconciled: { status: 'False', reason: Reasons.ApplyFailed, message } });
    ctx.events.record(relay, 'Warning', Reasons.ApplyFailed, message);
    throw err;
  }

  if (relay.status?.configHash && relay.status.configHash !== configHash) {
    ctx.events.record(relay, 'Normal', 'ConfigChanged', `configuration changed; rolling the relay pods (config hash ${configHash.slice(0, 12)})`);
  }
  // Pod readiness arrives as StatefulSet status updates through the informer: nothing to poll.
  await writeStatus(ctx, relay, {
    reconciled: decideReconciled(generation, ctx.reputation.config(namespace, name)),
    statefulSet: appliedSet,
    configHash,
    drain: drain.status,
  });
  return drain.requeueAfterMs !== undefined ? { requeueAfterMs: drain.requeueAfterMs } : {};
}

/**
 * Reconciled once applied, unless relay pods report (on /metrics) that they refused the config
 * now mounted: they keep serving their last good one, and would fail to start with this one.
 */
export function decideReconciled(generation: number, config: RelayConfigFigures | undefined): Omit<ConditionInput, 'type'> {
  if (config && config.rejected > 0) {
    return {
      status: 'False',
      reason: Reasons.ConfigRejected,
      message: `generation ${generation} applied, but ${config.rejected} of ${config.pods} relay pods refused the mounted configuration and serve their last good one (mailrelay_config_last_reload_success 0; the pod log names the problem); a restarted pod would not start`,
    };
  }
  return { status: 'True', reason: Reasons.Reconciled, message: `generation ${generation} applied` };
}

/** SendingDomains of this relay, created within the settle maximum, that their controller has not handled yet. */
function pendingDomains(ctx: ControllerContext, relay: MailRelay): number {
  const now = ctx.now().getTime();
  return ctx.caches.domains
    .list(relay.metadata.namespace)
    .filter((sd) => sd.spec.relayRef.name === relay.metadata.name)
    .filter((sd) => sd.status?.observedGeneration !== sd.metadata.generation)
    .filter((sd) => now - new Date(sd.metadata.creationTimestamp ?? 0).getTime() < ctx.settle.maxWait).length;
}

async function readInputs(ctx: ControllerContext, relay: MailRelay): Promise<RelayInputs> {
  const { namespace } = relay.metadata;
  const { spec } = relay;
  const missing: string[] = [];
  const secret = async (secretName: string): Promise<V1Secret | undefined> => {
    const s = await ctx.caches.secrets.get(namespace, secretName);
    if (!s) missing.push(`Secret ${secretName}`);
    return s;
  };

  // A domain claimed twice goes in once: the relay refuses a config naming it twice.
  const sendingDomains = relayDomains(ctx, namespace, relay.metadata.name).accepted;
  const domains: RelayDomain[] = [];
  const dkimKeys: RelayInputs['dkimKeys'] = [];
  const webhookKeys: Record<string, string> = {};
  const webhooks: RelayInputs['webhooks'] = [];
  // The relay's own webhooks, like its other Secrets: nothing is applied while one is missing.
  for (const { webhook, key } of await readWebhookKeys(ctx, namespace, spec.webhooks)) {
    if (!key.ok) missing.push(key.message);
    else {
      webhookKeys[webhookSecretKey(RELAY_SCOPE, webhook.name)] = key.file;
      webhooks.push({ scope: RELAY_SCOPE, name: webhook.name, url: webhook.url });
    }
  }
  const keyPem = async (secretName: string | undefined, key: string | undefined) =>
    secretName && key ? secretString(await ctx.caches.secrets.get(namespace, secretName), key) : undefined;
  for (const sd of sendingDomains) {
    // A domain's webhook without its key is left out (its SendingDomain says why): one tenant's
    // missing Secret must not hold up the relay for the others.
    const domainWebhooks: Webhook[] = [];
    for (const { webhook, key } of await readWebhookKeys(ctx, namespace, sd.spec.webhooks)) {
      if (!key.ok) continue;
      webhookKeys[webhookSecretKey(sd.spec.domain, webhook.name)] = key.file;
      webhooks.push({ scope: sd.spec.domain, name: webhook.name, url: webhook.url });
      domainWebhooks.push(webhook);
    }
    const dkim = sd.status?.dkim;
    const pem = await keyPem(dkim?.secretName, dkim?.key);
    // Sign only with a key the SendingDomain controller has vetted: for the current selector or,
    // with rotation, the one it switched to after DNS served its record.
    const vetted = dkim?.selector === sd.spec.dkim.selector || (sd.spec.dkim.rotation !== undefined && !sd.spec.dkim.secretRef);
    if (dkim?.secretName && dkim.key && dkim.algorithm && dkim.selector && vetted && pem) {
      domains.push({ spec: sd.spec, dkim: { selector: dkim.selector, algorithm: dkim.algorithm }, webhooks: domainWebhooks });
      dkimKeys.push({ domain: sd.spec.domain, selector: dkim.selector, pem });
      // The next key is in the pods before relay.yaml names it; the previous one stays until it retires.
      for (const other of [dkim.pending, dkim.retiring]) {
        const otherPem = await keyPem(other?.secretName, DKIM_SECRET_KEY);
        if (other && otherPem) dkimKeys.push({ domain: sd.spec.domain, selector: other.selector, pem: otherPem });
      }
    } else {
      domains.push({ spec: sd.spec, webhooks: domainWebhooks });
    }
  }

  let users: UserEntry[] | undefined;
  if (spec.auth.usersSecretName) {
    const s = await secret(spec.auth.usersSecretName);
    if (s) {
      const previous = await previousUsers(ctx, relay);
      users = [];
      for (const [username, password] of Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')] as const)) {
        const allowed = allowedDomainsFor(username, sendingDomains);
        if (!allowed) continue;
        users.push({ username, passwordHash: await ctx.hashes.hashFor(password, previous.get(username)), allowedSenderDomains: allowed });
      }
    }
  }

  let tokens: TokenEntry[] | undefined;
  if (spec.http.enabled && spec.http.tokensSecretName) {
    const s = await secret(spec.http.tokensSecretName);
    if (s) {
      tokens = Object.entries(s.data ?? {}).flatMap(([clientName, token]) => {
        const allowed = allowedDomainsFor(clientName, sendingDomains);
        return allowed ? [{ name: clientName, token: Buffer.from(token, 'base64').toString('utf8').trim(), allowedSenderDomains: allowed }] : [];
      });
    }
  }

  let smarthost: RelayInputs['smarthost'];
  const credentials = spec.delivery.mode === 'smarthost' ? spec.delivery.smarthost?.credentialsSecretName : undefined;
  if (credentials) {
    const s = await secret(credentials);
    const username = secretString(s, 'username');
    const password = secretString(s, 'password');
    if (s && (username === undefined || password === undefined)) missing.push(`keys username and password in Secret ${credentials}`);
    if (username !== undefined && password !== undefined) smarthost = { username: username.trim(), password };
  }

  let tlsSecretName: string | undefined;
  if (spec.tls?.secretName) {
    const s = await secret(spec.tls.secretName);
    if (s && (!s.data?.['tls.crt'] || !s.data['tls.key'])) missing.push(`keys tls.crt and tls.key in Secret ${spec.tls.secretName}`);
    tlsSecretName = spec.tls.secretName;
  } else if (spec.tls?.issuerRef) {
    tlsSecretName = names.relayCertificate(relay.metadata.name);
  }

  return { domains, dkimKeys, users, tokens, smarthost, tlsSecretName, webhookKeys, webhooks, missing };
}

/**
 * The relay's keys, the ones already in its auth Secret, else new random ones. The VERP key:
 * all pods share it, so a DSN for a message sent by one pod verifies on whichever pod it
 * reaches. The config hash key: kept, or every relay would roll once per new key. The admin
 * token: kept, since running pods read it once. The unsubscribe key: kept, or the links in mail
 * already sent would stop working; not in the config hash, since it never changes once made.
 */
async function ownKeys(ctx: ControllerContext, relay: MailRelay): Promise<{ verpKey: string; unsubscribeKey: string; configHashKey: string; adminToken: string }> {
  const wanted = [...(relay.spec.feedback?.verpDomain ? ['verp.key'] : []), ...(relay.spec.unsubscribe ? [UNSUBSCRIBE_KEY] : []), CONFIG_HASH_KEY, ADMIN_TOKEN_KEY];
  const auth = await ownSecret(ctx, relay.metadata.namespace, names.relayAuthSecret(relay.metadata.name), wanted);
  const keep = (key: string) => {
    const current = secretString(auth, key);
    return current && current.length >= CONFIG_HASH_KEY_MIN_LENGTH ? current : randomBytes(32).toString('base64url');
  };
  return { verpKey: keep('verp.key'), unsubscribeKey: keep(UNSUBSCRIBE_KEY), configHashKey: keep(CONFIG_HASH_KEY), adminToken: keep(ADMIN_TOKEN_KEY) };
}

/** Hashes already in the users file we rendered, so unchanged passwords keep theirs. */
async function previousUsers(ctx: ControllerContext, relay: MailRelay): Promise<Map<string, string>> {
  const current = secretString(await ctx.caches.secrets.get(relay.metadata.namespace, names.relayAuthSecret(relay.metadata.name)), 'users.yaml');
  const map = new Map<string, string>();
  if (!current) return map;
  try {
    for (const u of parse(current) as { username: string; passwordHash: string }[]) map.set(u.username, u.passwordHash);
  } catch {
    // We wrote it; if someone mangled it, fresh hashes are the fix.
  }
  return map;
}

/** spec.networkPolicy turned off: delete the one we made, found in the cache so a steady state costs no request. */
async function removeNetworkPolicy(ctx: ControllerContext, relay: MailRelay): Promise<boolean> {
  const { namespace, name } = relay.metadata;
  const live = ctx.caches.networkPolicies.get(namespace, names.relayNetworkPolicy(name));
  // Only ours: a policy of the same name someone else wrote stays.
  if (!live?.metadata?.ownerReferences?.some((o) => o.controller && o.uid === relay.metadata.uid)) return false;
  return ctx.applier.delete({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace, name: names.relayNetworkPolicy(name) });
}

function liveOf(ctx: ControllerContext, obj: KubernetesObject): KubernetesObject | undefined {
  const { namespace, name } = obj.metadata ?? {};
  if (!name) return undefined;
  switch (obj.kind) {
    case 'ConfigMap':
      return ctx.caches.configMaps.get(namespace, name);
    case 'Secret':
      // The applier compares resourceVersions only: the metadata is enough.
      return ctx.caches.secrets.informer.get(namespace, name);
    case 'Service':
      return ctx.caches.services.get(namespace, name);
    case 'PodDisruptionBudget':
      return ctx.caches.pdbs.get(namespace, name);
    case 'NetworkPolicy':
      return ctx.caches.networkPolicies.get(namespace, name);
    default:
      return undefined;
  }
}

interface StatusInput {
  readonly reconciled: Omit<ConditionInput, 'type'>;
  readonly statefulSet?: V1StatefulSet;
  readonly configHash?: string;
  /** status.drain; when absent the one written before is kept (a failed pass ends no drain). */
  readonly drain?: DrainStatus | undefined;
}

async function writeStatus(ctx: ControllerContext, relay: MailRelay, input: StatusInput): Promise<void> {
  const generation = relay.metadata.generation ?? 0;
  const sts = input.statefulSet ?? ctx.caches.statefulSets.get(relay.metadata.namespace, names.relayStatefulSet(relay.metadata.name));
  const want = relay.spec.replicas;
  const replicas = sts?.status?.replicas ?? 0;
  const ready = sts?.status?.readyReplicas ?? 0;
  const updated = sts?.status?.updatedReplicas ?? 0;
  const rolledOut =
    !!sts && (sts.status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0) && updated >= want && (sts.status?.currentRevision ?? '') === (sts.status?.updateRevision ?? '');
  const reconciled = input.reconciled.status === 'True';
  const drain = 'drain' in input ? input.drain : relay.status?.drain;
  const queue = ctx.reputation.queue(relay.metadata.namespace, relay.metadata.name) ?? relay.status?.queue;

  let readyCondition: ConditionInput;
  if (!reconciled) readyCondition = { type: MailRelayConditions.Ready, status: 'False', reason: input.reconciled.reason, message: input.reconciled.message };
  else if (ready >= want && rolledOut) readyCondition = { type: MailRelayConditions.Ready, status: 'True', reason: Reasons.AllReplicasReady, message: `${ready}/${want} relay pods ready` };
  else if (!rolledOut && ready > 0) readyCondition = { type: MailRelayConditions.Ready, status: 'False', reason: Reasons.RolloutInProgress, message: `${updated}/${want} relay pods updated, ${ready} ready` };
  else readyCondition = { type: MailRelayConditions.Ready, status: 'False', reason: Reasons.ReplicasNotReady, message: `${ready}/${want} relay pods ready` };

  const status: MailRelayStatus = {
    observedGeneration: generation,
    replicas,
    readyReplicas: ready,
    endpoint: names.endpoint(relay.metadata.name, relay.metadata.namespace),
    ...(input.configHash ?? relay.status?.configHash ? { configHash: input.configHash ?? relay.status?.configHash } : {}),
    ...(queue ? { queue: { ...queue } } : {}),
    ...(drain ? { drain } : {}),
    conditions: buildConditions(
      relay.status?.conditions,
      [
        readyCondition,
        { type: MailRelayConditions.Reconciled, ...input.reconciled },
        ready > 0
          ? { type: MailRelayConditions.Available, status: 'True', reason: Reasons.AllReplicasReady, message: `${ready} relay pods accept mail` }
          : { type: MailRelayConditions.Available, status: 'False', reason: Reasons.NoReplicasReady, message: 'no relay pod is ready' },
        { type: MailRelayConditions.Draining, ...describeDrain(drain) },
      ],
      generation,
      ctx.now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ),
  };
  await ctx.applier.applyStatus(
    { apiVersion: relay.apiVersion, kind: relay.kind, metadata: { name: relay.metadata.name, namespace: relay.metadata.namespace }, status },
    { live: relay },
  );
}
