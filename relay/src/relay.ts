import type { Server } from 'node:http';
import type { ApiTokenEntry, RelayConfig, UserEntry } from './config/schema.ts';
import type { Logger } from './log.ts';
import { createMetrics, type RelayMetrics } from './metrics/metrics.ts';
import { createMetricsServer } from './metrics/metrics-server.ts';
import { Spool } from './spool/spool.ts';
import { Authenticator } from './smtp/authenticator.ts';
import { SmtpIngress } from './smtp/smtp-ingress.ts';
import { TlsCertificates } from './smtp/tls-certificates.ts';
import { RelayError } from './errors.ts';
import { DeliveryEngine } from './delivery/delivery-engine.ts';
import { ConfigWatcher } from './config/config-watcher.ts';
import { loadDkimKeyFiles } from './config/load-config.ts';
import { createDomainSigner } from './dkim/domain-signer.ts';
import { HttpApi } from './api/http-api.ts';
import { ConfigSendGate } from './api/send-gate.ts';

export interface RelayOptions {
  readonly logger: Logger;
  readonly users: readonly UserEntry[];
  /** Tokens of the HTTP API (http.tokensFile). */
  readonly tokens?: readonly ApiTokenEntry[];
  /** How often mounted certificate files are checked for renewal. */
  readonly tlsPollMs?: number;
  readonly authDelayMs?: number;
  /** relay.yaml, re-read for run-time changes (paused domains) when given. */
  readonly configPath?: string;
  readonly configPollMs?: number;
  /** Tests replace the clock and randomness of the delivery engine. */
  readonly deliveryClock?: { now: () => number; random: () => number };
}

/** The relay process: spool, SMTP listeners and the metrics endpoint, started and stopped together. */
export class Relay {
  private ready = false;

  private constructor(
    readonly config: RelayConfig,
    readonly spool: Spool,
    readonly metrics: RelayMetrics,
    private readonly ingress: SmtpIngress,
    private readonly metricsServer: Server,
    private readonly certificates: TlsCertificates | undefined,
    readonly delivery: DeliveryEngine,
    private readonly watcher: ConfigWatcher | undefined,
    readonly smtpPorts: ReadonlyMap<string, number>,
    readonly metricsPort: number,
    private readonly logger: Logger,
    private readonly api: HttpApi | undefined,
  ) {}

  /** Port of the HTTP API, when `http` is configured. */
  get httpPort(): number | undefined {
    return this.api?.port;
  }

  static async start(config: RelayConfig, options: RelayOptions): Promise<Relay> {
    const { logger } = options;
    const certificates = config.tls ? new TlsCertificates(config.tls, logger) : undefined;
    const signer = createDomainSigner(loadDkimKeyFiles(config));
    const metrics = createMetrics();
    const spool = await Spool.open({ dir: config.queue.dir, logger, minFreeSpace: config.queue.minFreeSpace }, (kind) =>
      metrics.spoolCorrupt.inc({ kind }),
    );
    metrics.observeQueue(() => spool.stats());
    let relay: Relay | undefined;
    const metricsServer = createMetricsServer(metrics.registry, () => relay?.ready ?? false);
    let api: HttpApi | undefined;
    try {
      const ingress = new SmtpIngress({
        config,
        spool,
        authenticator: new Authenticator(options.users),
        metrics,
        logger,
        certificates: certificates?.current,
        authDelayMs: options.authDelayMs,
      });
      const smtpPorts = await ingress.listen();
      const metricsPort = await new Promise<number>((resolve, reject) => {
        metricsServer.once('error', (err) => reject(new RelayError('ERELAY_LISTEN', `metrics cannot listen: ${err.message}`, { cause: err })));
        metricsServer.listen(config.metrics.port, config.metrics.address, () => {
          const address = metricsServer.address();
          resolve(typeof address === 'object' && address ? address.port : config.metrics.port);
        });
      });
      certificates?.watch((pair) => ingress.updateCertificates(pair), options.tlsPollMs);
      // the HTTP API asks this before queueing; the reputation tracker and suppression list join it here
      const gate = new ConfigSendGate(config.domains);
      api = config.http ? await HttpApi.start({ config, tokens: options.tokens ?? [], spool, gate, metrics, logger }) : undefined;
      const delivery = new DeliveryEngine({ config, spool, metrics, logger, signer, ...options.deliveryClock });
      delivery.start();
      const watcher = options.configPath
        ? new ConfigWatcher(options.configPath, logger, (next) => {
            delivery.setPaused(next.domains.filter((d) => d.paused).map((d) => d.name));
            gate.update(next.domains);
          })
        : undefined;
      watcher?.start(options.configPollMs ?? 5000);
      relay = new Relay(config, spool, metrics, ingress, metricsServer, certificates, delivery, watcher, smtpPorts, metricsPort, logger, api);
      relay.ready = true;
      logger.info('relay started', { hostname: config.hostname, listeners: Object.fromEntries(smtpPorts), metricsPort, httpPort: api?.port, queued: spool.size });
      return relay;
    } catch (err) {
      metricsServer.close();
      await api?.stop(0);
      await api?.close();
      await spool.close();
      throw err;
    }
  }

  /** Stops taking mail, lets sessions in DATA finish within `graceMs`, then closes the spool. */
  async stop(graceMs = 25_000): Promise<void> {
    this.ready = false;
    this.logger.info('relay stopping', { graceMs, connections: this.ingress.connectionCount });
    this.certificates?.stop();
    this.watcher?.stop();
    await Promise.all([this.ingress.close(graceMs), this.delivery.stop(graceMs), this.api?.stop(graceMs)]);
    await this.api?.close();
    await this.spool.close();
    await new Promise<void>((resolve) => {
      this.metricsServer.close(() => resolve());
      this.metricsServer.closeAllConnections();
    });
    this.logger.info('relay stopped');
  }
}
