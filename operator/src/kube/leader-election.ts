import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { OperatorError, describeError, errorStatus } from '../errors.ts';
import { RestClient, microTime, resourcePath } from './rest-client.ts';

export interface LeaderElectorOptions {
  namespace: string;
  name: string;
  /** Unique per process (the pod name): two processes with one identity would both lead. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  logger?: Logger;
  /** Injected by tests to cut this elector off from the API server. */
  client?: RestClient;
}

export interface LeaderCallbacks {
  /** Called once leadership is acquired; the elector keeps renewing while it runs. */
  onStartedLeading: () => void | Promise<void>;
  /** Called when leadership is lost (renewal failed past the deadline, or another holder took it); not on release() or stop(). */
  onStoppedLeading: () => void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/**
 * Lease-based leader election after client-go's leaderelection. Every write carries the
 * resourceVersion it read, so of two contenders only one update succeeds. A holder counts as
 * alive while its lease record keeps changing; expiry is measured on this process's clock from
 * when the record last changed, so clocks need not agree between pods. A leader that cannot
 * renew within renewDeadline (shorter than the lease) steps down before anyone may take over.
 */
export class LeaderElector {
  readonly #opts: Required<Omit<LeaderElectorOptions, 'logger' | 'client'>>;
  readonly #rest: RestClient;
  readonly #logger: Logger | undefined;
  readonly #path: string;
  #leading = false;
  #stop = new AbortController();
  #running: Promise<void> | undefined;
  #observedSpec = '';
  #observedAt = 0;

  constructor(kc: KubeConfig, opts: LeaderElectorOptions) {
    this.#opts = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.#opts;
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs && retryPeriodMs > 0)) {
      throw new OperatorError('EOP_LEASE_CONFIG', 'leader election needs leaseDurationMs > renewDeadlineMs > retryPeriodMs > 0');
    }
    this.#rest = opts.client ?? new RestClient(kc);
    this.#logger = opts.logger?.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
    this.#path = resourcePath('coordination.k8s.io/v1', 'leases', opts.namespace, opts.name);
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Campaigns, then leads until leadership is lost, release() or stop(); resolves then. */
  run(callbacks: LeaderCallbacks): Promise<void> {
    this.#stop = new AbortController();
    this.#running = this.#run(callbacks, this.#stop.signal);
    return this.#running;
  }

  /** Stops campaigning and renewing without touching the lease, as a killed process would. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
    this.#leading = false;
  }

  /** Graceful shutdown: stops, then clears the holder so a peer takes over at once, not on expiry. */
  async release(): Promise<void> {
    const wasLeading = this.#leading;
    await this.stop();
    if (!wasLeading) return;
    try {
      const lease = await this.#rest.request<Lease>('GET', this.#path);
      if (lease.spec?.holderIdentity !== this.#opts.identity) return;
      const now = microTime(Date.now());
      const spec: LeaseSpec = { leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: lease.spec.leaseTransitions ?? 0 };
      await this.#rest.request('PUT', this.#path, { body: { ...lease, spec } });
      this.#logger?.info('released leadership');
    } catch (err) {
      // The lease then expires on its own; shutdown goes on.
      this.#logger?.warn('could not release the lease', { error: describeError(err) });
    }
  }

  async #run(callbacks: LeaderCallbacks, signal: AbortSignal): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.#opts;
    while (!signal.aborted && (await this.#tryAcquireOrRenew(signal)) !== 'held') await pause(jitter(retryPeriodMs), signal);
    if (signal.aborted) return;

    this.#leading = true;
    this.#logger?.info('became leader');
    Promise.resolve()
      .then(callbacks.onStartedLeading)
      .catch((err: unknown) => this.#logger?.error('onStartedLeading failed', { error: describeError(err) }));

    let lastRenew = Date.now();
    while (!signal.aborted) {
      // Never sleep past the deadline: stepping down late could overlap the next leader.
      await pause(Math.min(retryPeriodMs, Math.max(0, renewDeadlineMs - (Date.now() - lastRenew))), signal);
      if (signal.aborted) return;
      // A renewal must not outlive the deadline, or this process could lead past its lease.
      const remaining = renewDeadlineMs - (Date.now() - lastRenew);
      const outcome = remaining > 0 ? await this.#tryAcquireOrRenew(AbortSignal.any([signal, AbortSignal.timeout(remaining)])) : 'failed';
      if (signal.aborted) return;
      if (outcome === 'held') lastRenew = Date.now();
      else if (outcome === 'taken' || Date.now() - lastRenew >= renewDeadlineMs) break;
    }
    this.#leading = false;
    this.#logger?.warn('lost leadership');
    callbacks.onStoppedLeading();
  }

  /** 'held': this process holds the lease now; 'taken': another live holder has it; 'failed': unknown. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<'held' | 'taken' | 'failed'> {
    const { identity, leaseDurationMs, namespace, name } = this.#opts;
    const now = Date.now();
    const durationSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
    try {
      let lease: Lease;
      try {
        lease = await this.#rest.request<Lease>('GET', this.#path, { signal });
      } catch (err) {
        if (errorStatus(err) !== 404) throw err;
        const spec: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 };
        const created: Lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec };
        await this.#rest.request('POST', resourcePath('coordination.k8s.io/v1', 'leases', namespace), { body: created, signal });
        this.#observe(spec, now);
        return 'held';
      }
      const spec = lease.spec ?? {};
      this.#observe(spec, now);
      const mine = spec.holderIdentity === identity;
      const heldUntil = this.#observedAt + (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (spec.holderIdentity && !mine && heldUntil > now) return 'taken';
      const next: LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: mine ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      };
      // metadata.resourceVersion from the read makes this a compare-and-swap: 409 if anyone wrote since.
      await this.#rest.request('PUT', this.#path, { body: { ...lease, spec: next }, signal });
      this.#observe(next, now);
      return 'held';
    } catch (err) {
      if (!signal.aborted) this.#logger?.debug('lease attempt failed', { error: describeError(err), status: errorStatus(err) });
      return 'failed';
    }
  }

  #observe(spec: LeaseSpec, now: number): void {
    const key = [spec.holderIdentity, spec.renewTime, spec.acquireTime, spec.leaseTransitions].join('|');
    if (key === this.#observedSpec) return;
    this.#observedSpec = key;
    this.#observedAt = now;
  }
}

/** Up to 20 % more, so contenders started together do not keep colliding. */
function jitter(ms: number): number {
  return ms * (1 + Math.random() * 0.2);
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}
