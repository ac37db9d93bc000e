import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { API_VERSION, type MailRelay, type SendingDomain } from '../api/v1alpha1/types.ts';
import { describeError } from '../errors.ts';
import { Applier } from '../kube/apply.ts';
import { EventRecorder } from '../kube/events.ts';
import { Informer } from '../kube/informer.ts';
import { SecretStore } from '../kube/secret-store.ts';
import { RestClient } from '../kube/rest-client.ts';
import { WorkQueue } from '../kube/work-queue.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { MANAGED_SELECTOR } from '../resources/labels.ts';
import { names } from '../resources/names.ts';
import { ADMIN_TOKEN_KEY } from '../resources/relay-config-objects.ts';
import { secretString, type Caches, type ControllerContext, type ControllerSettings } from './context.ts';
import { DnsVerifier } from './dns-verifier.ts';
import { reconcileMailRelay } from './mail-relay-controller.ts';
import { PasswordHashes } from './password-hashes.ts';
import { RelayAdmin } from './relay-admin.ts';
import { ReputationPoller } from './reputation-poller.ts';
import { pushRelayFigures, RelayWideMemory } from './relay-wide-pause.ts';
import { Settle } from './settle.ts';
import { reconcileSendingDomain, type DnsCheckState } from './sending-domain-controller.ts';

export interface ManagerOptions extends ControllerSettings {
  readonly namespaces: 'all' | string[];
  readonly resolvers: readonly string[];
  readonly resyncMs: number;
  readonly workers: number;
  /** How often relay pods' /metrics are read for SendingDomain reputation. */
  readonly reputationIntervalMs: number;
  /** The relay pods' admin port when not ports.admin (tests: relay processes on loopback). */
  readonly relayAdminPort?: number;
  /** This replica's name, as the reporting instance of its Events. */
  readonly identity: string;
  readonly logger: Logger;
  readonly metrics: OperatorMetrics;
  /** The controllers' clock; the wall clock unless a test moves time. */
  readonly now?: () => Date;
}

type Kind = 'MailRelay' | 'SendingDomain';

/** Quiet time after the last change to a relay's inputs before its config is written, and the longest wait. */
const SETTLE_QUIET_MS = 2000;
const SETTLE_MAX_MS = 60_000;

/**
 * Informers for both kinds and everything they own, one deduplicated work queue keyed
 * `Kind/namespace/name`, and the mapping from any event to the keys it affects.
 */
export class Manager {
  readonly caches: Caches;
  readonly applier: Applier;
  readonly queue: WorkQueue;
  readonly poller: ReputationPoller;
  readonly #ctx: ControllerContext;
  readonly #dnsState = new Map<string, DnsCheckState>();
  readonly #settle = new Settle(SETTLE_QUIET_MS, SETTLE_MAX_MS);
  readonly #opts: ManagerOptions;
  #running: Promise<void> | undefined;

  constructor(kc: KubeConfig, opts: ManagerOptions) {
    this.#opts = opts;
    const { namespaces, resyncMs } = opts;
    // One client, one keep-alive pool, for every informer and write.
    const rest = new RestClient(kc);
    const informer = <T extends KubernetesObject>(apiVersion: string, kind: string, plural: string, labelSelector?: string, metadataOnly = false): Informer<T> =>
      new Informer<T>(kc, { apiVersion, kind, plural, namespaces, resyncMs, labelSelector, metadataOnly, client: rest });
    this.caches = {
      relays: informer(API_VERSION, 'MailRelay', 'mailrelays'),
      domains: informer(API_VERSION, 'SendingDomain', 'sendingdomains'),
      // Every Secret, not only ours: users, tokens, TLS and DKIM keys are the user's Secrets,
      // and a changed password must roll the relay without waiting for a resync. Metadata
      // only: a cluster's Secrets (Helm releases: ~1 MB each) would otherwise all sit in memory.
      secrets: new SecretStore(informer('v1', 'Secret', 'secrets', undefined, true), rest),
      configMaps: informer('v1', 'ConfigMap', 'configmaps', MANAGED_SELECTOR),
      statefulSets: informer('apps/v1', 'StatefulSet', 'statefulsets', MANAGED_SELECTOR),
      services: informer('v1', 'Service', 'services', MANAGED_SELECTOR),
      pdbs: informer('policy/v1', 'PodDisruptionBudget', 'poddisruptionbudgets', MANAGED_SELECTOR),
      networkPolicies: informer('networking.k8s.io/v1', 'NetworkPolicy', 'networkpolicies', MANAGED_SELECTOR),
      // The EndpointSlice controller copies the Service's labels, ours included.
      endpointSlices: informer('discovery.k8s.io/v1', 'EndpointSlice', 'endpointslices', MANAGED_SELECTOR),
      // The pod template carries our labels.
      pods: informer('v1', 'Pod', 'pods', MANAGED_SELECTOR),
    };
    const dns = new DnsVerifier(opts.resolvers);
    this.poller = new ReputationPoller(
      this.caches.endpointSlices,
      () => this.caches.relays.list().map((r) => ({ namespace: r.metadata!.namespace!, name: r.metadata!.name! })),
      (namespace, relay) => {
        // The relay's status shows whether its pods took the config; its domains show reputation.
        this.queue.add(`MailRelay/${namespace}/${relay}`);
        for (const sd of this.caches.domains.list(namespace)) if (sd.spec.relayRef.name === relay) this.queue.add(`SendingDomain/${namespace}/${sd.metadata!.name}`);
      },
      (host) => dns.resolveAddress(host),
      opts.logger,
      opts.reputationIntervalMs,
    );
    this.applier = new Applier(kc, { client: rest, onWrite: (w) => opts.metrics.apiWrites.inc({ kind: w.kind, result: w.result }) });
    this.queue = new WorkQueue({ onError: (key, err) => opts.logger.warn('reconcile failed; retrying with backoff', { key, error: describeError(err) }) });
    this.#ctx = {
      caches: this.caches,
      applier: this.applier,
      rest,
      events: new EventRecorder(kc, { logger: opts.logger, reportingInstance: opts.identity, client: rest }),
      dns,
      hashes: new PasswordHashes(),
      settings: { relayImage: opts.relayImage, dnsCheckIntervalMs: opts.dnsCheckIntervalMs },
      reputation: this.poller,
      relayAdmin: new RelayAdmin({
        pods: this.caches.pods,
        token: async (namespace, relay) => secretString(await this.caches.secrets.get(namespace, names.relayAuthSecret(relay)), ADMIN_TOKEN_KEY),
        ...(opts.relayAdminPort !== undefined ? { port: opts.relayAdminPort } : {}),
      }),
      relayWide: new RelayWideMemory(),
      settle: this.#settle,
      logger: opts.logger,
      now: opts.now ?? (() => new Date()),
    };
    this.#wireRelayFigures();
    opts.metrics.observeSendingDomains(() => this.caches.domains.list());
    this.#wire();
  }

  /** Starts the informers, waits for their first list, then reconciles until stop(). */
  async start(): Promise<void> {
    const all = this.#informers();
    for (const i of all) i.start();
    await Promise.all(all.map((i) => i.waitForSync()));
    this.#opts.logger.info('caches synced', { namespaces: this.#opts.namespaces });
    this.#running = this.queue.run(this.#opts.workers, (key) => this.#reconcile(key));
    this.poller.start();
  }

  get synced(): boolean {
    return this.#informers().every((i) => i.hasSynced);
  }

  async stop(): Promise<void> {
    await this.poller.stop();
    await this.queue.shutdown();
    await this.#running;
    await Promise.all(this.#informers().map((i) => i.stop()));
  }

  #informers(): Informer<KubernetesObject>[] {
    return Object.values(this.caches).map((c: Informer<KubernetesObject> | SecretStore) => (c instanceof SecretStore ? c.informer : c));
  }

  #wire(): void {
    const { relays, domains, secrets, configMaps, statefulSets, services, pdbs, networkPolicies } = this.caches;
    const enqueue = (kind: Kind, obj: KubernetesObject | undefined): void => {
      if (obj?.metadata?.name && obj.metadata.namespace) this.queue.add(`${kind}/${obj.metadata.namespace}/${obj.metadata.name}`);
    };
    const onAll = <T extends KubernetesObject>(informer: Informer<T>, fn: (obj: T, old?: T) => void): void => {
      informer.on('add', fn).on('update', fn).on('delete', fn);
    };
    relays.on('add', (relay) => {
      // A new relay usually arrives with its domains (one apply): let them land first.
      if (Date.now() - new Date(relay.metadata?.creationTimestamp ?? 0).getTime() < SETTLE_QUIET_MS) this.#settle.touch(`${relay.metadata?.namespace}/${relay.metadata?.name}`);
    });
    onAll(relays, (relay) => {
      enqueue('MailRelay', relay);
      // A SendingDomain's Ready and SPF record depend on its relay.
      for (const sd of domains.list(relay.metadata?.namespace)) if (sd.spec.relayRef.name === relay.metadata?.name) enqueue('SendingDomain', sd);
    });
    onAll(domains, (sd, old) => {
      enqueue('SendingDomain', sd);
      // Objects for the same domain decide among themselves which one sends (DomainConflict):
      // the loser's Ready changes when the winner goes or moves.
      for (const other of domains.list(sd.metadata?.namespace)) if (other.spec.domain.toLowerCase() === sd.spec.domain.toLowerCase()) enqueue('SendingDomain', other);
      // Settled: a bulk apply of domains becomes one relay write instead of one per domain.
      this.#touchRelay(sd.metadata?.namespace, sd.spec.relayRef.name);
      if (old && old.spec.relayRef.name !== sd.spec.relayRef.name) this.#touchRelay(old.metadata?.namespace, old.spec.relayRef.name);
    });
    for (const owned of [configMaps, statefulSets, services, pdbs, networkPolicies] as Informer<KubernetesObject>[]) onAll(owned, (obj) => this.#enqueueOwner(obj));
    onAll(secrets.informer, (secret) => this.#onSecret(secret));
    for (const i of this.#informers()) {
      i.on('error', (err: unknown) => this.#opts.logger.warn('watch failed; relisting', { error: describeError(err) }));
    }
  }

  /**
   * After each poll, the relay-wide sums go to every pod of the relay, with a lease of three
   * poll intervals (at least 15 s): a pod whose lease runs out judges its own figures again.
   * One push per relay at a time; a slow pod delays only its own relay's next push.
   */
  #wireRelayFigures(): void {
    const pushing = new Set<string>();
    const leaseMs = Math.max(15_000, 3 * this.#opts.reputationIntervalMs);
    this.poller.onPoll((namespace, relay) => {
      const key = `${namespace}/${relay}`;
      if (pushing.has(key)) return;
      pushing.add(key);
      void pushRelayFigures(this.#ctx, namespace, relay, leaseMs).finally(() => pushing.delete(key));
    });
  }

  #enqueueRelay(namespace: string | undefined, name: string): void {
    if (namespace) this.queue.add(`MailRelay/${namespace}/${name}`);
  }

  #touchRelay(namespace: string | undefined, name: string): void {
    if (!namespace) return;
    this.#settle.touch(`${namespace}/${name}`);
    this.queue.addAfter(`MailRelay/${namespace}/${name}`, SETTLE_QUIET_MS);
  }

  #enqueueOwner(obj: KubernetesObject): void {
    const owner = obj.metadata?.ownerReferences?.find((o) => o.controller && o.apiVersion === API_VERSION);
    if (owner && obj.metadata?.namespace && (owner.kind === 'MailRelay' || owner.kind === 'SendingDomain')) {
      this.queue.add(`${owner.kind}/${obj.metadata.namespace}/${owner.name}`);
    }
  }

  /** A Secret matters to the relays and domains that reference it by name, and to its owner. */
  #onSecret(secret: KubernetesObject): void {
    this.#enqueueOwner(secret);
    const ns = secret.metadata?.namespace;
    const name = secret.metadata?.name;
    if (!ns || !name) return;
    for (const relay of this.caches.relays.list(ns) as MailRelay[]) {
      const s = relay.spec;
      const refs = [s.auth.usersSecretName, s.http.tokensSecretName, s.tls?.secretName, s.delivery.smarthost?.credentialsSecretName, ...(s.webhooks ?? []).map((w) => w.secretRef.name)];
      if (refs.includes(name)) this.#enqueueRelay(ns, relay.metadata.name);
    }
    for (const sd of this.caches.domains.list(ns) as SendingDomain[]) {
      const dkim = sd.status?.dkim;
      if ([sd.spec.dkim.secretRef?.name, dkim?.secretName, dkim?.pending?.secretName, dkim?.retiring?.secretName].includes(name)) this.queue.add(`SendingDomain/${ns}/${sd.metadata.name}`);
      // A domain's webhook key: its WebhooksReady condition, and the key file its relay mounts.
      if (sd.spec.webhooks?.some((w) => w.secretRef.name === name)) {
        this.queue.add(`SendingDomain/${ns}/${sd.metadata.name}`);
        this.#enqueueRelay(ns, sd.spec.relayRef.name);
      }
    }
  }

  async #reconcile(key: string): Promise<void> {
    const [kind, namespace, name] = key.split('/') as [Kind, string, string];
    const end = this.#opts.metrics.reconcileDuration.startTimer({ kind });
    try {
      const result =
        kind === 'MailRelay'
          ? await reconcileMailRelay(this.#ctx, namespace, name)
          : await reconcileSendingDomain(this.#ctx, this.#dnsState, namespace, name);
      this.#opts.metrics.reconcileTotal.inc({ kind, result: 'success' });
      if (result.requeueAfterMs !== undefined) this.queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      this.#opts.metrics.reconcileTotal.inc({ kind, result: 'error' });
      throw err;
    } finally {
      end();
    }
  }
}
