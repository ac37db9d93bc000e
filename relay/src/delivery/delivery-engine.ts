import { createReadStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { RelayConfig } from '../config/schema.ts';
import { readSecretFile } from '../config/load-config.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import type { Spool } from '../spool/spool.ts';
import type { MessageMeta, RecipientState, SpoolEntry } from '../spool/types.ts';
import { newQueueId } from '../spool/queue-id.ts';
import { domainOf, matchDomain } from '../mail-address.ts';
import { describeError } from '../errors.ts';
import { RelaxedBodyHash } from '../dkim/dkim-signer.ts';
import type { DomainSigner } from '../dkim/domain-signer.ts';
import { DestinationQueue } from './destination-queue.ts';
import { DestinationQueues } from './destination-queues.ts';
import { buildDsn, statusOf, type FailedRecipient } from './dsn.ts';
import { ConnectionBudget } from './limits.ts';
import type { JobSession } from './destination-queue.ts';
import type { OutboundConnection, OutboundTarget } from './outbound-connection.ts';
import { decideStsRoute } from './mta-sts/decide-sts-route.ts';
import { StsPolicyCache, type CachedStsPolicy } from './mta-sts/policy-cache.ts';
import { TlsReporting } from './tls-rpt/tls-reporting.ts';
import { StsPolicies } from './mta-sts/sts-policies.ts';
import { decideStsResult, resultLabel, type StsResult } from './mta-sts/tls-result.ts';
import type { RecipientOutcome } from './outcome.ts';
import type { Provider } from './provider.ts';
import { isExpired, retryDelay } from './retry-policy.ts';
import { RouteResolver } from './route-resolver.ts';
import type { EmittedEvent, EventSink } from '../events/event-types.ts';
import { buildBouncedEvent, buildDeferredEvent, buildDeliveredEvent, buildExpiredEvent, messageFacts } from '../events/build-events.ts';

export interface DeliveryEngineDeps {
  readonly config: RelayConfig;
  readonly spool: Spool;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  /** DKIM for the domain of each message's From: header. */
  readonly signer?: DomainSigner;
  readonly now?: () => number;
  readonly random?: () => number;
  /** Told every recipient result of messages that have a sending domain (reputation). */
  readonly onRecipientOutcome?: (event: RecipientOutcomeEvent) => void;
  /** A per-recipient envelope sender (VERP), or undefined to keep the message's own. */
  readonly returnPath?: (queueId: string, index: number, sendingDomain: string, recipient: string, category: string | undefined) => string | undefined;
  /** Whether the message's category (as submitted) of its sending domain is paused: its mail is held. */
  readonly categoryPaused?: (sendingDomain: string, category: string | undefined) => boolean;
  /**
   * Header lines (CRLF-terminated) to put above the message for one recipient, e.g. one-click
   * unsubscribe; a message that gets any is sent one transaction per recipient, each signed
   * over its own headers.
   */
  readonly recipientHeaders?: (meta: MessageMeta, recipient: string) => string | undefined;
  /** Delivery events (delivered, deferred, bounced, expired), durable with the STATE record. */
  readonly events?: EventSink;
}

type AttemptOutcome = RecipientOutcome & { provider: Provider; tls?: string };

export interface RecipientOutcomeEvent {
  readonly domain: string;
  readonly recipient: string;
  readonly status: 'delivered' | 'bounced' | 'deferred' | 'expired';
  /** RFC 3463 status of the reply, e.g. `5.1.1`. */
  readonly enhancedStatus: string;
  readonly reply: string;
  /** The message's category as submitted. */
  readonly category?: string;
}

interface RouteGroup {
  readonly queue: DestinationQueue;
  readonly provider: Provider;
  readonly recipients: string[];
  /** The recipient domain's MTA-STS policy, when one applies: what its results are judged by. */
  readonly sts?: { readonly domain: string; readonly mode: 'enforce' | 'testing'; readonly allowed: readonly string[]; readonly policy: CachedStsPolicy };
}

const HEADER_SAMPLE = 64 * 1024;
/** A header block larger than this is not looked at for signing (the message goes unsigned). */
const MAX_HEAD = 1024 * 1024;

/** Produces the bytes to send; called once per transaction, so a stream is opened anew each time. */
type BodySource = () => Buffer | Readable;

/**
 * Moves due messages from the spool to their destinations. Each leased message is split by
 * destination (the smarthost, or the MX host set of each recipient domain); the recipients of
 * one destination go in one transaction through that destination's queue; every recipient's
 * outcome is recorded on its own, so a retry only covers those still pending. Bounces and
 * expiry produce one DSN to the sender, through the same spool.
 */
export class DeliveryEngine {
  private readonly queues = new DestinationQueues();
  private readonly budget: ConnectionBudget;
  private readonly resolver: RouteResolver;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly maxInFlight: number;
  private readonly smarthost: OutboundTarget | undefined;
  private readonly sts: StsPolicies | undefined;
  /** Trust anchors for MX certificates and policy hosts instead of the system's (tests). */
  private readonly stsCa: Buffer | undefined;
  /** TLS-RPT (`delivery.tlsRpt`): results per policy domain and day, and the daily reports. */
  private readonly reports: TlsReporting | undefined;
  private readonly paused = new Set<string>();
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly deps: DeliveryEngineDeps) {
    const { config } = deps;
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.resolver = new RouteResolver(config.delivery.resolvers, this.now, this.random);
    this.budget = new ConnectionBudget(config.delivery.maxConnections);
    this.budget.onRelease = () => {
      deps.metrics.outboundConnections.set(this.budget.inUse);
      for (const q of this.queues.values()) if (q.pending > 0) q.pump();
    };
    this.budget.onPressure = () => {
      for (const q of this.queues.values()) if (q.idleConnections > 0) q.closeIdle();
    };
    // enough work in flight to keep every connection busy, bounded so bodies are not all loaded
    this.maxInFlight = Math.max(100, config.delivery.maxConnections * 4);
    this.smarthost = config.delivery.mode === 'smarthost' ? this.smarthostTarget() : undefined;
    const { mtaSts } = config.delivery;
    this.stsCa = mtaSts.caFile ? readFileSync(mtaSts.caFile) : undefined;
    this.sts =
      config.delivery.mode === 'mx' && mtaSts.mode === 'apply'
        ? new StsPolicies({
            txt: (name) => this.resolver.txt(name),
            fetch: { lookup: this.resolver.lookup, port: mtaSts.port, timeoutMs: mtaSts.fetchTimeout, ...(this.stsCa ? { ca: this.stsCa } : {}) },
            cache: new StsPolicyCache(mtaSts.cacheDir, this.now),
            logger: deps.logger,
            now: this.now,
            onFailure: (failure, domain) => {
              deps.metrics.mtaStsPolicyFailures.inc({ reason: resultLabel(failure) });
              this.reports?.record(domain, undefined, failure, '');
            },
          })
        : undefined;
    const { tlsRpt } = config.delivery;
    this.reports =
      this.sts && tlsRpt
        ? new TlsReporting({
            dir: `${config.queue.dir.replace(/\/+$/, '')}/tls-rpt`,
            config: tlsRpt,
            submitter: config.hostname,
            txt: (name) => this.resolver.txt(name),
            post: { lookup: this.resolver.lookup, timeoutMs: mtaSts.fetchTimeout, ...(this.stsCa ? { ca: this.stsCa } : {}) },
            enqueue: (to, message) => this.queueReport(to, message),
            onReport: (result) => deps.metrics.tlsReports.inc({ result }),
            logger: deps.logger,
            now: this.now,
          })
        : undefined;
    for (const d of config.domains) if (d.paused) this.paused.add(d.name);
  }

  private smarthostTarget(): OutboundTarget {
    const { delivery, hostname } = this.deps.config;
    const s = delivery.smarthost!;
    return {
      hosts: [s.host],
      port: s.port,
      tls: s.tls,
      verify: true,
      ...(s.caFile ? { ca: readFileSync(s.caFile) } : {}),
      ...(s.username && s.passwordFile ? { auth: { user: s.username, pass: readSecretFile(s.passwordFile) } } : {}),
      name: hostname,
      connectTimeout: delivery.connectTimeout,
      commandTimeout: delivery.commandTimeout,
    };
  }

  start(): void {
    this.reports?.start();
    this.deps.spool.on('message', this.kick);
    // messages read back from disk (a queue beyond the spool's active limit) can be leased now
    this.deps.spool.on('due', this.kick);
    this.kick();
  }

  /**
   * Applies the paused sending domains (and categories: categoryPaused is asked again), on a
   * config reload or a pause or resume: held mail that nothing holds any more flows again.
   */
  setPaused(domains: Iterable<string>): void {
    const next = new Set(domains);
    const resumed = [...this.paused].filter((d) => !next.has(d));
    this.paused.clear();
    for (const d of next) this.paused.add(d);
    // The index knows a message's domain, not its category (paged-out messages are not in
    // memory): mail of a domain that is not paused is released, and a message whose category is
    // still paused is held again when it is leased.
    const count = this.deps.spool.releaseHeld((domain) => domain === undefined || !this.paused.has(domain));
    if (resumed.length > 0 || count > 0) {
      this.deps.logger.info('held mail released', { resumedDomains: resumed, released: count });
      this.kick();
    }
  }

  /** Paused mail: its sending domain is, or its category of that domain. */
  private isHeld(meta: MessageMeta): boolean {
    const domain = meta.sendingDomain;
    return domain !== undefined && (this.paused.has(domain) || (this.deps.categoryPaused?.(domain, meta.category) ?? false));
  }

  private readonly kick = (): void => {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  };

  private pump(): void {
    if (this.stopped) return;
    const { spool } = this.deps;
    while (this.inFlight < this.maxInFlight) {
      const batch = spool.lease(this.maxInFlight - this.inFlight, this.now());
      if (batch.length === 0) break;
      for (const entry of batch) {
        this.inFlight++;
        this.process(entry)
          .catch((err: unknown) => {
            this.deps.logger.error('delivery attempt failed', { queueId: entry.meta.id, error: describeError(err) });
            spool.release(entry.meta.id);
          })
          .finally(() => {
            this.inFlight--;
            if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((w) => w());
            this.kick();
          });
      }
    }
    clearTimeout(this.timer);
    const next = spool.nextDueAt();
    if (next !== undefined && this.inFlight < this.maxInFlight) {
      this.timer = setTimeout(this.kick, Math.min(Math.max(next - this.now(), 10), 60_000));
      this.timer.unref();
    }
  }

  private async process(entry: SpoolEntry): Promise<void> {
    const { meta } = entry;
    if (this.isHeld(meta)) {
      this.deps.spool.hold(meta.id);
      return;
    }
    const pending = meta.recipients.filter((r) => r.status === 'pending').map((r) => r.address);
    const { groups, failed } = await this.route(pending);
    const extra = new Map<string, string>();
    for (const r of pending) {
      const lines = this.deps.recipientHeaders?.(meta, r);
      if (lines) extra.set(r, lines);
    }
    // one prepared body per distinct header block ('' for the message as stored)
    const sources = new Map<string, Promise<BodySource>>();
    let bodyHash: Promise<string | undefined> | undefined;
    const hashOnce = () => (bodyHash ??= this.fileBodyHash(entry));
    const loadBody = (lines: string) => async () => {
      let source = sources.get(lines);
      if (!source) sources.set(lines, (source = this.prepareBody(entry, lines, hashOnce)));
      return (await source)();
    };
    const outcomes: AttemptOutcome[] = failed.map((o) => ({ ...o, provider: 'other' as Provider }));
    const transactions = groups.flatMap((group) => this.envelopes(meta, group.recipients, extra.size > 0).map((envelope) => ({ group, ...envelope })));
    await Promise.all(
      transactions.map(
        ({ group, from, recipients }) =>
          new Promise<void>((resolve) => {
            group.queue.push({
              from,
              recipients,
              body: loadBody(recipients.length === 1 ? (extra.get(recipients[0]!) ?? '') : ''),
              done: (results, session) => {
                const result = this.countSession(group, results, session);
                for (const r of results) outcomes.push({ ...r, ...this.stsReply(group, result, r), provider: group.provider, ...(session.tls ? { tls: session.tls.version } : {}) });
                resolve();
              },
            });
          }),
      ),
    );
    await this.record(entry, outcomes);
  }

  /** TLS use per provider, and the MTA-STS result of a transaction to a domain with a policy. */
  private countSession(group: RouteGroup, results: readonly RecipientOutcome[], session: JobSession): StsResult | undefined {
    const { metrics } = this.deps;
    const { provider } = group;
    if (session.tls) metrics.tlsSessions.inc({ direction: 'outbound', version: session.tls.version });
    const delivered = results.filter((r) => r.status === 'delivered').length;
    if (delivered > 0) {
      const tls = !session.tls ? 'none' : session.tls.authorized ? 'verified' : 'encrypted';
      metrics.outboundTls.inc({ provider, tls }, delivered);
    }
    if (!group.sts) return undefined;
    const result = decideStsResult(group.sts.allowed, session);
    if (!result) return undefined;
    metrics.mtaStsResults.inc({ provider, mode: group.sts.mode, result: resultLabel(result) });
    const host = session.host ?? (session.connectError as { host?: string } | undefined)?.host ?? '';
    this.reports?.record(group.sts.domain, group.sts.policy, result, host);
    return result;
  }

  /** A deferral an enforced policy caused says so, rather than only what the TLS stack said. */
  private stsReply(group: RouteGroup, result: StsResult | undefined, outcome: RecipientOutcome): { reply?: string } {
    if (group.sts?.mode !== 'enforce' || result === undefined || result === 'success' || outcome.status !== 'deferred') return {};
    return { reply: `451 4.7.5 MTA-STS policy of ${group.sts.domain} requires TLS with a certificate valid for the MX host: ${result} (${outcome.reply})`.slice(0, 500) };
  }

  /**
   * One transaction for the recipients, or one each when every recipient gets its own (VERP)
   * return path or its own headers (`split`).
   */
  private envelopes(meta: MessageMeta, recipients: string[], split: boolean): Array<{ from: string; recipients: string[] }> {
    const { returnPath } = this.deps;
    const domain = meta.sendingDomain;
    const whole = split ? recipients.map((r) => ({ from: meta.from, recipients: [r] })) : [{ from: meta.from, recipients }];
    // the null sender (our DSNs) stays null: nothing may bounce back to a bounce
    if (!returnPath || !domain || meta.from === '') return whole;
    const index = new Map(meta.recipients.map((x, i) => [x.address, i]));
    const each = recipients.map((r) => ({ from: returnPath(meta.id, index.get(r) ?? -1, domain, r, meta.category), recipients: [r] }));
    if (each.some((e) => e.from === undefined)) return whole;
    return each as Array<{ from: string; recipients: string[] }>;
  }

  private async route(recipients: readonly string[]): Promise<{ groups: RouteGroup[]; failed: RecipientOutcome[] }> {
    const { config } = this.deps;
    const failed: RecipientOutcome[] = [];
    const groups = new Map<string, RouteGroup>();
    if (this.smarthost) {
      return { groups: [{ queue: this.queue('smarthost', this.smarthost), provider: 'other', recipients: [...recipients] }], failed };
    }
    const byDomain = new Map<string, string[]>();
    for (const r of recipients) {
      const d = domainOf(r);
      byDomain.set(d, [...(byDomain.get(d) ?? []), r]);
    }
    await Promise.all(
      [...byDomain].map(async ([domain, rcpts]) => {
        const result = await this.resolver.resolve(domain);
        if (result.kind === 'fail') {
          for (const recipient of rcpts) failed.push({ recipient, status: result.status, reply: result.reply });
          return;
        }
        const { route } = result;
        const target: OutboundTarget = {
          hosts: route.hosts,
          port: config.delivery.port,
          tls: 'opportunistic',
          verify: false,
          ...(this.stsCa ? { ca: this.stsCa } : {}),
          name: config.hostname,
          connectTimeout: config.delivery.connectTimeout,
          commandTimeout: config.delivery.commandTimeout,
        };
        // an address literal has no MX hosts a policy could name
        const policy = this.sts && !route.key.startsWith('ip:') ? (await this.sts.lookup(domain)).policy : undefined;
        const sts = decideStsRoute(domain, policy?.policy, route.hosts);
        if (sts.kind === 'enforce-no-mx') {
          this.deps.metrics.mtaStsResults.inc({ provider: route.provider, mode: 'enforce', result: resultLabel('mx-mismatch') });
          this.reports?.record(domain, policy, 'mx-mismatch', route.hosts[0] ?? '');
          this.deps.logger.warn('MTA-STS: no MX host allowed', { domain, hosts: route.hosts, policyId: policy?.id });
          for (const recipient of rcpts) failed.push({ recipient, status: 'deferred', reply: sts.reply });
          return;
        }
        let key = route.key;
        let queueTarget = target;
        let groupKey = key;
        let stsGroup: RouteGroup['sts'];
        if (sts.kind === 'enforce') {
          // only the allowed hosts, STARTTLS required, the certificate verified for each host
          key = `sts:${[...sts.hosts].sort().join(',')}`;
          queueTarget = { ...target, hosts: sts.hosts, tls: 'starttls', verify: true };
          groupKey = `${key}|${domain}`;
          stsGroup = { domain, mode: 'enforce', allowed: sts.hosts, policy: policy! };
        } else if (sts.kind === 'testing') {
          groupKey = `${key}|${domain}`;
          stsGroup = { domain, mode: 'testing', allowed: sts.allowed, policy: policy! };
        }
        const queue = this.queue(key, queueTarget);
        const group = groups.get(groupKey) ?? { queue, provider: route.provider, recipients: [], ...(stsGroup ? { sts: stsGroup } : {}) };
        group.recipients.push(...rcpts);
        groups.set(groupKey, group);
      }),
    );
    return { groups: [...groups.values()], failed };
  }

  private queue(key: string, target: OutboundTarget): DestinationQueue {
    let queue = this.queues.get(key);
    if (!queue) {
      const { delivery, queue: q } = this.deps.config;
      queue = new DestinationQueue(
        key,
        target,
        delivery.perDestination.maxConnections,
        delivery.perDestination.maxMessagesPerSecond,
        this.budget,
        (host) => this.resolver.addresses(host),
        (conn: OutboundConnection) => {
          this.deps.metrics.outboundConnections.set(this.budget.inUse);
          this.deps.logger.debug('outbound connection', { destination: key, host: conn.host, tls: conn.tlsVersion ?? 'none' });
        },
        Math.min(30_000, q.retrySchedule[0] ?? 30_000),
        this.now,
      );
      this.queues.add(queue);
    } else {
      queue.updateTarget(target);
    }
    return queue;
  }

  /**
   * Inline bodies are read and signed in memory. Bodies in large/ are streamed: the DKIM body
   * hash is computed in a first pass over the file, so a 25 MiB message never sits in memory.
   */
  private async prepareBody(entry: SpoolEntry, lines: string, bodyHash: () => Promise<string | undefined>): Promise<BodySource> {
    const { spool, signer } = this.deps;
    const signingDomain = entry.meta.signingDomain;
    const extra = Buffer.from(lines, 'latin1');
    const file = spool.bodyFile(entry);
    if (!file) {
      const stored = await spool.readBody(entry);
      const body = extra.length > 0 ? Buffer.concat([extra, stored]) : stored;
      const signed = signer ? signer.signMessage(body, signingDomain) : body;
      return () => signed;
    }
    let signature = Buffer.alloc(0);
    if (signer?.signs(signingDomain)) {
      const head = await spool.readHead(entry, MAX_HEAD);
      const end = head.indexOf('\r\n\r\n');
      const hash = end === -1 ? undefined : await bodyHash();
      if (hash) signature = Buffer.from(signer.signatureFor(Buffer.concat([extra, head.subarray(0, end + 4)]), hash, signingDomain), 'latin1');
    }
    return () =>
      Readable.from(
        (async function* () {
          if (signature.length > 0) yield signature;
          if (extra.length > 0) yield extra;
          yield* createReadStream(file);
        })(),
      );
  }

  /** The DKIM body hash of a body in large/, read once per attempt however many recipients get their own headers. */
  private async fileBodyHash(entry: SpoolEntry): Promise<string | undefined> {
    const file = this.deps.spool.bodyFile(entry);
    if (!file) return undefined;
    const head = await this.deps.spool.readHead(entry, MAX_HEAD);
    const end = head.indexOf('\r\n\r\n');
    if (end === -1) return undefined;
    const hash = new RelaxedBodyHash();
    for await (const chunk of createReadStream(file, { start: end + 4 })) hash.update(chunk as Buffer);
    return hash.digest();
  }

  /** Applies the outcomes to the message's recipients, counts them, sends a DSN, and stores the new state. */
  private async record(entry: SpoolEntry, outcomes: AttemptOutcome[]): Promise<void> {
    const { metrics, logger, config } = this.deps;
    const meta = entry.meta;
    const now = this.now();
    const domain = meta.sendingDomain ?? 'none';
    const expired = isExpired(meta.createdAt, now, config.queue.maxAge);
    const byRecipient = new Map(outcomes.map((o) => [o.recipient, o]));
    const failures: FailedRecipient[] = [];
    const attempts = meta.attempts + 1;
    const nextAttemptAt = now + retryDelay(attempts, config.queue.retrySchedule, this.random());
    const recipients: RecipientState[] = meta.recipients.map((r) => {
      const o = byRecipient.get(r.address);
      if (!o) return r;
      const fields = { queueId: meta.id, domain, to: r.address, provider: o.provider, reply: o.reply, attempt: meta.attempts + 1 };
      if (meta.sendingDomain) {
        const status = o.status === 'delivered' || o.status === 'bounced' ? o.status : expired ? 'expired' : 'deferred';
        const category = meta.category !== undefined ? { category: meta.category } : {};
        this.deps.onRecipientOutcome?.({ domain, recipient: r.address, status, enhancedStatus: statusOf(o.reply, false), reply: o.reply, ...category });
      }
      if (o.status === 'delivered') {
        metrics.delivered.inc({ domain, provider: o.provider });
        metrics.deliveryDuration.observe({ domain }, (now - meta.createdAt) / 1000);
        logger.info('delivered', fields);
        return { address: r.address, status: 'delivered', lastReply: o.reply, updatedAt: now };
      }
      if (o.status === 'bounced' || expired) {
        const type = o.status === 'bounced' ? 'hard' : 'expired';
        metrics.bounced.inc({ domain, provider: o.provider, type });
        logger.warn('bounced', { ...fields, type });
        failures.push({ recipient: r.address, reply: o.reply, ...(o.remoteHost ? { remoteHost: o.remoteHost } : {}), expired: type === 'expired' });
        return { address: r.address, status: 'bounced', lastReply: o.reply, updatedAt: now };
      }
      metrics.deferred.inc({ domain, provider: o.provider });
      logger.info('deferred', fields);
      return { address: r.address, status: 'pending', lastReply: o.reply, updatedAt: now };
    });
    // RFC 3464: never answer the null sender, so bounces cannot loop
    const dsnSent = failures.length > 0 && meta.from !== '';
    if (dsnSent) await this.queueDsn(entry, failures, now);
    const events = this.deps.events ? attemptEvents(meta, outcomes, { attempt: attempts, now, nextAttemptAt, expired, dsnSent }) : [];
    // the events are on disk no later than the state they report
    await settleAll([
      this.deps.spool.update(meta.id, { recipients, attempts, nextAttemptAt }),
      ...(events.length > 0 ? [this.deps.events!.emit(events)] : []),
    ]);
  }

  /** Looks at the spool again now (an admin made messages due). */
  wake(): void {
    this.kick();
  }

  /**
   * Bounces every pending recipient of a message now (`mail-relay queue bounce`), with one DSN
   * to its sender through the usual DSN path (never to the null sender), and removes it.
   * 'leased': a delivery attempt holds the message; undefined: no such message.
   */
  async bounceNow(id: string, reply: string): Promise<{ bounced: number } | 'leased' | undefined> {
    const { spool, metrics, logger } = this.deps;
    const entry = spool.claim(id);
    if (entry === undefined || entry === 'leased') return entry;
    try {
      const meta = entry.meta;
      const now = this.now();
      const domain = meta.sendingDomain ?? 'none';
      const failures: FailedRecipient[] = [];
      const recipients: RecipientState[] = meta.recipients.map((r) => {
        if (r.status !== 'pending') return r;
        failures.push({ recipient: r.address, reply, expired: false });
        return { address: r.address, status: 'bounced', lastReply: reply, updatedAt: now };
      });
      const dsnSent = failures.length > 0 && meta.from !== '';
      if (dsnSent) await this.queueDsn(entry, failures, now);
      const facts = messageFacts(meta);
      const events = failures.map((f) => ({
        event: buildBouncedEvent(facts, { recipient: f.recipient, attempt: meta.attempts, reply, time: now, status: statusOf(reply, false), dsnSent, source: 'admin' }),
      }));
      await settleAll([
        spool.update(id, { recipients, attempts: meta.attempts, nextAttemptAt: meta.nextAttemptAt }),
        ...(this.deps.events && events.length > 0 ? [this.deps.events.emit(events)] : []),
      ]);
      // not the recipients' doing, so not told to reputation; counted apart as type="admin"
      if (failures.length > 0) metrics.bounced.inc({ domain, provider: 'other', type: 'admin' }, failures.length);
      logger.warn('bounced by administrator', { queueId: id, domain, recipients: failures.length });
      return { bounced: failures.length };
    } catch (err) {
      spool.release(id);
      throw err;
    }
  }

  private async queueDsn(entry: SpoolEntry, failures: FailedRecipient[], now: number): Promise<void> {
    const { spool, config, metrics, logger } = this.deps;
    const headers = await spool.readHead(entry, HEADER_SAMPLE).catch(() => Buffer.alloc(0));
    const id = newQueueId(now);
    const message = buildDsn({
      hostname: config.hostname,
      queueId: entry.meta.id,
      originalSender: entry.meta.from,
      arrivalDate: new Date(entry.meta.createdAt),
      failures,
      originalHeaders: headers,
      now: new Date(now),
      dsnId: id,
    });
    const incoming = spool.newMessage(id);
    await incoming.write(message);
    await spool.commit(incoming, {
      from: '',
      recipients: [{ address: entry.meta.from, status: 'pending' }],
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
      headerFromDomain: config.hostname.toLowerCase(),
      // the relay writes the DSN itself, From: MAILER-DAEMON@<hostname>
      signingDomain: matchDomain(config.hostname.toLowerCase(), config.domains.map((d) => d.name)) ?? null,
      origin: { listener: 'dsn', clientAddress: '' },
    });
    metrics.dsnSent.inc();
    logger.info('DSN queued', { queueId: id, original: entry.meta.id, recipients: failures.length });
  }

  /** Sends the TLS-RPT reports of the days before `now` that are not sent yet (`delivery.tlsRpt`). */
  sendTlsReports(now = this.now()): Promise<{ sent: number; failed: number }> {
    return this.reports ? this.reports.sendCompleted(now) : Promise.resolve({ sent: 0, failed: 0 });
  }

  /** A TLS-RPT report by mail: from the null sender, so a failure cannot bounce back and loop. */
  private async queueReport(to: string, message: Buffer): Promise<void> {
    const { spool, config, logger } = this.deps;
    const now = this.now();
    const id = newQueueId(now);
    const incoming = spool.newMessage(id);
    await incoming.write(message);
    await spool.commit(incoming, {
      from: '',
      recipients: [{ address: to, status: 'pending' }],
      createdAt: now,
      attempts: 0,
      nextAttemptAt: now,
      headerFromDomain: domainOf(config.delivery.tlsRpt!.from),
      signingDomain: matchDomain(domainOf(config.delivery.tlsRpt!.from), config.domains.map((d) => d.name)) ?? null,
      origin: { listener: 'dsn', clientAddress: '' },
    });
    logger.info('TLS-RPT report queued', { queueId: id, to });
  }

  /** Stops leasing; waits up to `graceMs` for attempts in progress, then closes idle connections. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.deps.spool.off('message', this.kick);
    this.deps.spool.off('due', this.kick);
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    for (const q of this.queues.values()) q.closeIdle();
    await this.reports?.stop();
  }
}

/**
 * The events of one attempt's outcomes. A recipient reaching its final outcome after two or more
 * deferrals first gets its last deferral again (same id, phase `last`) for `first-and-last`
 * webhooks, which were sent only the first: every recipient pending at attempt k was tried, and
 * deferred, in each of the k-1 before.
 */
export function attemptEvents(
  meta: MessageMeta,
  outcomes: readonly AttemptOutcome[],
  at: { attempt: number; now: number; nextAttemptAt: number; expired: boolean; dsnSent: boolean },
): EmittedEvent[] {
  const facts = messageFacts(meta);
  const states = new Map(meta.recipients.map((r) => [r.address, r]));
  const events: EmittedEvent[] = [];
  for (const o of outcomes) {
    const base = { recipient: o.recipient, attempt: at.attempt, reply: o.reply, time: at.now, ...(o.remoteHost ? { remoteHost: o.remoteHost } : {}) };
    if (o.status === 'deferred' && !at.expired) {
      events.push({ event: buildDeferredEvent(facts, { ...base, nextAttemptAt: at.nextAttemptAt }), phase: at.attempt === 1 ? 'first' : 'middle' });
      continue;
    }
    const previous = states.get(o.recipient);
    if (at.attempt > 2 && previous?.status === 'pending') {
      const last = { recipient: o.recipient, attempt: at.attempt - 1, reply: previous.lastReply ?? '', time: previous.updatedAt ?? at.now, nextAttemptAt: meta.nextAttemptAt };
      events.push({ event: buildDeferredEvent(facts, last), phase: 'last' });
    }
    if (o.status === 'delivered') events.push({ event: buildDeliveredEvent(facts, { ...base, ...(o.tls ? { tls: o.tls } : {}) }) });
    else if (o.status === 'bounced') events.push({ event: buildBouncedEvent(facts, { ...base, status: statusOf(o.reply, false), dsnSent: at.dsnSent, source: 'delivery' }) });
    else events.push({ event: buildExpiredEvent(facts, { ...base, dsnSent: at.dsnSent }) });
  }
  return events;
}

/** Waits for every promise, then throws the first failure: a failed event write must not hide a STATE write still running. */
async function settleAll(work: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const results = await Promise.allSettled(work);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
