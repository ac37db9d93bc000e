import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import { Manager } from './controllers/manager.ts';
import { createHealthServer } from './health-server.ts';
import { loadKubeConfig } from './kube/kube-config.ts';
import { LeaderElector } from './kube/leader-election.ts';
import { createOperatorMetrics, type OperatorMetrics } from './metrics.ts';
import type { OperatorOptions } from './options.ts';

export interface OperatorHooks {
  /** Called when leadership is lost: the process must exit so a fresh start re-elects. */
  readonly onLostLeadership: () => void;
  /** The controllers' clock (rotation schedules): tests move it to run a 90-day rotation in seconds. */
  readonly now?: () => Date;
}

/** The operator process: health and metrics endpoint, leader election, and the controllers while leading. */
export class Operator {
  readonly metrics: OperatorMetrics = createOperatorMetrics();
  readonly manager: Manager;
  #server: Server | undefined;
  #elector: LeaderElector | undefined;
  #leading = false;
  #stopping = false;

  constructor(
    readonly options: OperatorOptions,
    private readonly logger: Logger,
    private readonly hooks: OperatorHooks,
  ) {
    const kc = loadKubeConfig(options.kubeconfig);
    this.manager = new Manager(kc, { ...options, logger, metrics: this.metrics, ...(hooks.now ? { now: hooks.now } : {}) });
    if (options.leaderElect) {
      const namespace = options.leaseNamespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
      this.#elector = new LeaderElector(kc, {
        namespace,
        name: options.leaseName,
        identity: options.identity,
        leaseDurationMs: options.leaseDurationMs,
        renewDeadlineMs: options.renewDeadlineMs,
        retryPeriodMs: options.retryPeriodMs,
      });
    }
  }

  /** Resolves once the endpoint listens; reconciling starts when this replica leads. */
  async start(): Promise<number> {
    this.#server = createHealthServer(this.metrics.registry, () => !this.#leading || this.manager.synced);
    const port = await new Promise<number>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(this.options.metricsPort, this.options.metricsAddress, () => resolve((this.#server!.address() as AddressInfo).port));
    });
    this.logger.info('operator started', { metricsPort: port, namespaces: this.options.namespaces, identity: this.options.identity, leaderElect: this.options.leaderElect });
    if (!this.#elector) {
      await this.#lead();
    } else {
      void this.#elector.run({
        onStartedLeading: () => void this.#lead(),
        onStoppedLeading: () => {
          this.metrics.leader.set(0);
          if (this.#stopping) return;
          this.logger.error('lost leadership; exiting so that a restart rejoins the election', { identity: this.options.identity });
          this.hooks.onLostLeadership();
        },
      });
    }
    return port;
  }

  async #lead(): Promise<void> {
    this.#leading = true;
    this.metrics.leader.set(1);
    this.logger.info('leading: starting controllers', { identity: this.options.identity });
    await this.manager.start();
  }

  /** Stops reconciling, releases the Lease so a standby takes over at once, closes the endpoint. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#leading) await this.manager.stop();
    await this.#elector?.release();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#server?.closeAllConnections();
  }
}
