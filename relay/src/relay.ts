import type { Server } from 'node:http';
import type { ApiTokenEntry, RelayConfig, UserEntry } from './config/schema.ts';
import type { Logger } from './log.ts';
import { createMetrics, type RelayMetrics } from './metrics/metrics.ts';
import { createMetricsServer, decideSaturated } from './metrics/metrics-server.ts';
import { Spool } from './spool/spool.ts';
import { Authenticator } from './smtp/authenticator.ts';
import { ScryptWorker } from './smtp/scrypt-worker.ts';
import { SmtpIngress } from './smtp/smtp-ingress.ts';
import { TlsCertificates } from './smtp/tls-certificates.ts';
import { RelayError, describeError } from './errors.ts';
import { DeliveryEngine } from './delivery/delivery-engine.ts';
import { ConfigWatcher } from './config/config-watcher.ts';
import { loadDkimKeyFiles, loadTokens, loadUsers, loadVerpKeyFile, readSecretFile } from './config/load-config.ts';
import { createDomainSigner, ReloadableSigner } from './dkim/domain-signer.ts';
import { ReputationService } from './reputation/reputation-service.ts';
import { FeedbackProcessor } from './reputation/feedback-processor.ts';
import { HttpApi } from './api/http-api.ts';
import { AdminServer } from './admin/admin-server.ts';
import { OneClickUnsubscribe } from './unsubscribe/one-click.ts';
import { joinIntakes } from './unsubscribe/unsubscribe-intake.ts';
import { EventStream } from './events/event-stream.ts';
import { buildUnsubscribedEvent } from './events/build-events.ts';
import { newQueueId } from './spool/queue-id.ts';
import { parseSigningKeys } from './events/sign-payload.ts';

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
  /** A cancelled drain asks for a restart of the process (main.ts stops and exits; the container restarts). */
  readonly onRestart?: () => void;
  /** Tests replace the clock and randomness of the delivery engine. */
  readonly deliveryClock?: { now: () => number; random: () => number };
  /** Event journal segment size (tests see rotation and the backlog bound at small sizes). */
  readonly eventSegmentSize?: number;
}

/** The relay process: spool, SMTP listeners and the metrics endpoint, started and stopped together. */
export class Relay {
  private ready = false;
  private intakeClosed: Promise<void> | undefined;
  private endQuiesce: (() => void) | undefined;

  private constructor(
    readonly config: RelayConfig,
    readonly spool: Spool,
    readonly metrics: RelayMetrics,
    private readonly ingress: SmtpIngress,
    private readonly metricsServer: Server,
    private readonly certificates: TlsCertificates | undefined,
    readonly delivery: DeliveryEngine,
    /** Reputation, pauses and suppressions; the HTTP API's SendGate and reputation routes use it. */
    readonly reputation: ReputationService,
    private readonly watcher: ConfigWatcher | undefined,
    readonly smtpPorts: ReadonlyMap<string, number>,
    readonly metricsPort: number,
    private readonly logger: Logger,
    private readonly api: HttpApi | undefined,
    private readonly hashing: ScryptWorker,
    /** The queue admin API (`admin` in relay.yaml). */
    readonly admin: AdminServer | undefined,
    /** One-click unsubscribe (`unsubscribe` in relay.yaml). */
    readonly unsubscribe: OneClickUnsubscribe | undefined,
    /** Port of the public unsubscribe listener, when configured. */
    readonly unsubscribePort: number | undefined,
    /** Webhook events; undefined when no webhook is configured. */
    private readonly events: EventStream | undefined,
  ) {}

  /** Port of the HTTP API, when `http` is configured. */
  get httpPort(): number | undefined {
    return this.api?.port;
  }

  static async start(config: RelayConfig, options: RelayOptions): Promise<Relay> {
    const { logger } = options;
    const certificates = config.tls ? new TlsCertificates(config.tls, logger) : undefined;
    const signer = new ReloadableSigner(createDomainSigner(loadDkimKeyFiles(config)));
    const metrics = createMetrics();
    const spool = await Spool.open({ dir: config.queue.dir, logger, minFreeSpace: config.queue.minFreeSpace, activeLimit: config.queue.activeLimit }, (kind) =>
      metrics.spoolCorrupt.inc({ kind }),
    );
    metrics.observeQueue(() => spool.stats());
    let relay: Relay | undefined;
    const hashing = new ScryptWorker();
    const metricsServer = createMetricsServer(
      metrics.registry,
      () => (relay?.ready ?? false) && !decideSaturated(relay!.ingress.connectionCount, config.limits.maxConnections),
    );
    let reputation: ReputationService | undefined;
    let api: HttpApi | undefined;
    let admin: AdminServer | undefined;
    let unsubscribe: OneClickUnsubscribe | undefined;
    let events: EventStream | undefined;
    try {
      events = await EventStream.open(config, metrics, logger, options.eventSegmentSize ? { segmentSize: options.eventSegmentSize } : {});
      reputation = await ReputationService.open({ config, metrics, logger });
      const rep = reputation;
      // the domains of the config now (reloads change them): unsubscribe links outlive a config
      let liveDomains = config.domains;
      unsubscribe = OneClickUnsubscribe.create(config, () => liveDomains, rep, logger);
      const feedbackProcessor = FeedbackProcessor.enabled(config.feedback)
        ? new FeedbackProcessor(config.feedback, rep, () => config.domains.map((d) => d.name), metrics, logger)
        : undefined;
      if (feedbackProcessor) feedbackProcessor.events = events;
      const feedback = joinIntakes([feedbackProcessor, unsubscribe?.intake]);
      const ingress = new SmtpIngress({
        config,
        spool,
        authenticator: new Authenticator(options.users, hashing.derive),
        metrics,
        logger,
        certificates: certificates?.current,
        authDelayMs: options.authDelayMs,
        gate: rep,
        feedback,
        events,
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
      // The API refuses what SMTP refuses: reputation pauses and suppressed recipients.
      api = config.http ? await HttpApi.start({ config, tokens: options.tokens ?? [], spool, gate: rep, reputation: rep, metrics, logger, events }) : undefined;
      const delivery = new DeliveryEngine({
        config,
        spool,
        metrics,
        logger,
        signer,
        ...options.deliveryClock,
        onRecipientOutcome: (event) => rep.recordOutcome(event),
        returnPath: (queueId, index, domain, recipient, category) => rep.returnPath(queueId, index, domain, recipient, category),
        categoryPaused: (domain, category) => rep.categoryPausedReason(domain, category) !== undefined,
        ...(unsubscribe ? { recipientHeaders: (meta, recipient) => unsubscribe!.headersFor(meta, recipient) } : {}),
        events,
      });
      const unsubscribePort = await unsubscribe?.listen();
      // durable before the unsubscribe is answered, like every event
      unsubscribe?.onUnsubscribe(async (scope, via) => {
        const event = buildUnsubscribedEvent({ key: newQueueId(), domain: scope.domain, category: scope.category, recipient: scope.recipient, method: via === 'https' ? 'one-click' : 'mailto', time: Date.now() });
        await events?.emit([{ event }]);
      });
      const stopIntake = (quiesceMs: number) => (relay ? relay.stopIntake(quiesceMs) : Promise.reject(new Error('the relay is still starting')));
      admin = config.admin ? await AdminServer.start({ config, admin: config.admin, spool, delivery, metrics, logger, stopIntake, restart: options.onRestart, reputation: rep }) : undefined;
      // paused by config or by a reputation breach (persisted): one set for the engine; category pauses it asks for
      rep.onPausedChange(() => delivery.setPaused(rep.pausedDomains()));
      delivery.setPaused(rep.pausedDomains());
      delivery.start();
      const watcher = options.configPath
        ? new ConfigWatcher(options.configPath, logger, {
            check: checkReferencedFiles,
            onChange: (next) => {
              liveDomains = next.domains;
              // checked just before (checkReferencedFiles): the keys load
              signer.replace(createDomainSigner(loadDkimKeyFiles(next)));
              rep.applyConfig(next).catch((err: unknown) => logger.error('reputation config not applied', { error: describeError(err) }));
            },
            onReload: (ok) => {
              if (!ok) metrics.configReloadFailures.inc();
              metrics.configLastReloadSuccess.set(ok ? 1 : 0);
            },
          })
        : undefined;
      watcher?.start(options.configPollMs ?? 5000, config);
      relay = new Relay(config, spool, metrics, ingress, metricsServer, certificates, delivery, rep, watcher, smtpPorts, metricsPort, logger, api, hashing, admin, unsubscribe, unsubscribePort, events);
      relay.ready = true;
      logger.info('relay started', { hostname: config.hostname, listeners: Object.fromEntries(smtpPorts), metricsPort, httpPort: api?.port, queued: spool.size });
      return relay;
    } catch (err) {
      await unsubscribe?.close();
      await admin?.close();
      metricsServer.close();
      await hashing.close();
      await api?.stop(0);
      await api?.close();
      await reputation?.close();
      await events?.close();
      await spool.close();
      throw err;
    }
  }

  /**
   * For a drain (admin `POST /v1/drain`): not ready at once, so the pod leaves the Service's
   * endpoints; `quiesceMs` later (the readiness probe's period) the SMTP and HTTP listeners
   * close and their sessions get `graceMs` to finish, and delivery stops leasing. For good:
   * a pod kept after all is restarted.
   */
  stopIntake(quiesceMs: number, graceMs = 25_000): Promise<void> {
    this.ready = false;
    this.intakeClosed ??= (async () => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, quiesceMs);
        this.endQuiesce = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      await Promise.all([this.ingress.close(graceMs), this.delivery.stop(graceMs), this.api?.stop(graceMs)]);
    })();
    return this.intakeClosed;
  }

  /** Stops taking mail, lets sessions in DATA finish within `graceMs`, then closes the spool. */
  async stop(graceMs = 25_000): Promise<void> {
    this.ready = false;
    this.logger.info('relay stopping', { graceMs, connections: this.ingress.connectionCount });
    this.certificates?.stop();
    this.watcher?.stop();
    // a drain's quiet period ends now; its handoff loop stops with the admin API
    this.endQuiesce?.();
    await this.admin?.close();
    await this.unsubscribe?.close();
    await this.stopIntake(0, graceMs);
    await this.hashing.close();
    await this.api?.close();
    await this.reputation.close();
    await this.events?.close();
    await this.spool.close();
    await new Promise<void>((resolve) => {
      this.metricsServer.close(() => resolve());
      this.metricsServer.closeAllConnections();
    });
    this.logger.info('relay stopped');
  }
}

/**
 * What a start-up with this config would read besides relay.yaml, read and checked the same
 * way (main.ts): a reload that passes here would also start.
 */
export function checkReferencedFiles(config: RelayConfig): void {
  loadUsers(config);
  loadTokens(config);
  createDomainSigner(loadDkimKeyFiles(config));
  if (config.feedback.verpKeyFile) loadVerpKeyFile(config.feedback.verpKeyFile);
  if (config.delivery.smarthost?.passwordFile) readSecretFile(config.delivery.smarthost.passwordFile);
  if (config.unsubscribe) readSecretFile(config.unsubscribe.keyFile);
  for (const webhook of [...config.webhooks, ...config.domains.flatMap((d) => d.webhooks ?? [])]) {
    if (!parseSigningKeys(readSecretFile(webhook.secretFile))) {
      throw new RelayError('ERELAY_WEBHOOK_SECRET', `webhook ${webhook.name}: ${webhook.secretFile} holds no signing key`);
    }
  }
}
