import type { KubernetesObject, V1ConfigMap, V1EndpointSlice, V1NetworkPolicy, V1Pod, V1PodDisruptionBudget, V1Secret, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { MailRelay, SendingDomain } from '../api/v1alpha1/types.ts';
import { isNotFound } from '../errors.ts';
import type { Applier } from '../kube/apply.ts';
import { decideDomainConflicts, type DomainConflicts } from '../resources/domain-conflicts.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { Informer } from '../kube/informer.ts';
import type { SecretStore } from '../kube/secret-store.ts';
import { resourcePath, type RestClient } from '../kube/rest-client.ts';
import type { DnsVerifier } from './dns-verifier.ts';
import type { PasswordHashes } from './password-hashes.ts';
import type { RelayAdmin } from './relay-admin.ts';
import type { QueueFigures } from './queue-figures.ts';
import type { DeliveryTlsFigures, DomainFigures } from './relay-figures.ts';
import type { PodFigures, RelayConfigFigures } from './reputation-poller.ts';
import type { RelayWideMemory } from './relay-wide-pause.ts';
import type { Settle } from './settle.ts';

/** The caches the controllers read instead of the API server. */
export interface Caches {
  readonly relays: Informer<MailRelay & KubernetesObject>;
  readonly domains: Informer<SendingDomain & KubernetesObject>;
  /** Metadata of every Secret watched; bodies fetched on use. */
  readonly secrets: SecretStore;
  readonly configMaps: Informer<V1ConfigMap>;
  readonly statefulSets: Informer<V1StatefulSet>;
  readonly services: Informer<V1Service>;
  readonly pdbs: Informer<V1PodDisruptionBudget>;
  readonly networkPolicies: Informer<V1NetworkPolicy>;
  /** Of the relays' headless Services: where their pods' metrics are. */
  readonly endpointSlices: Informer<V1EndpointSlice>;
  /** The relays' pods (managed label): their addresses for the admin API, drain labels. */
  readonly pods: Informer<V1Pod>;
}

export interface ControllerSettings {
  /** Relay image when a MailRelay names none. */
  readonly relayImage: string;
  /** How often published DNS records are checked again. */
  readonly dnsCheckIntervalMs: number;
}

export interface ControllerContext {
  readonly caches: Caches;
  readonly applier: Applier;
  readonly rest: RestClient;
  readonly events: EventRecorder;
  readonly dns: DnsVerifier;
  readonly hashes: PasswordHashes;
  readonly settings: ControllerSettings;
  /** Bursts of input changes per relay (`namespace/name`), waited out before writing. */
  readonly settle: Settle;
  /** What the relay pods last reported for a domain. */
  readonly reputation: {
    get(namespace: string, relay: string, domain: string): DomainFigures | undefined;
    /** Each pod's own figures of the domain (relay-wide pause and resume). */
    pods(namespace: string, relay: string, domain: string): readonly PodFigures[];
    /** Whether the relay's pods accepted the config mounted now. */
    config(namespace: string, relay: string): RelayConfigFigures | undefined;
    /** The relay's queue summed over its pods, for MailRelay.status.queue. */
    queue(namespace: string, relay: string): QueueFigures | undefined;
    /** TLS use of the relay's deliveries to the big providers, for BulkSenderReady. */
    deliveryTls(namespace: string, relay: string): DeliveryTlsFigures | undefined;
  };
  /** The relay pods' admin API: relay-wide pause, drain. */
  readonly relayAdmin: RelayAdmin;
  /** Reasons of the relay-wide pauses decided, spec.paused pushes made. */
  readonly relayWide: RelayWideMemory;
  readonly logger: Logger;
  readonly now: () => Date;
}

/** What a reconcile asks of the queue besides "done": come back later (DNS re-checks, rollouts). */
export interface ReconcileResult {
  readonly requeueAfterMs?: number;
}

/**
 * The SendingDomains of a relay, and those of them left out of its config because an older one
 * has the same domain. Both controllers decide from the same cache, so they agree.
 */
export function relayDomains(ctx: ControllerContext, namespace: string, relay: string): DomainConflicts {
  return decideDomainConflicts(ctx.caches.domains.list(namespace).filter((sd) => sd.spec.relayRef.name === relay));
}

export function secretString(secret: V1Secret | undefined, key: string): string | undefined {
  const data = secret?.data?.[key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}

/**
 * A Secret the operator writes itself, holding `keys` (DKIM, VERP, config hash keys): from the
 * cache when it has them all, else from the API server. The cache may not have seen our own
 * write of a moment ago, and generating a second key would replace one already published or
 * already used in return paths.
 */
export async function ownSecret(ctx: ControllerContext, namespace: string, name: string, keys: string | readonly string[]): Promise<V1Secret | undefined> {
  const cached = await ctx.caches.secrets.get(namespace, name);
  if ([keys].flat().every((key) => cached?.data?.[key] !== undefined)) return cached;
  try {
    return await ctx.rest.request<V1Secret>('GET', resourcePath('v1', 'secrets', namespace, name));
  } catch (err) {
    if (isNotFound(err)) return cached;
    throw err;
  }
}
