import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { Informer } from '../kube/informer.ts';
import { names, ports } from '../resources/names.ts';
import { mergeFigures, parseConfigRejected, parseDeliveryTls, parseRelayFigures, type DeliveryTlsFigures, type DomainFigures } from './relay-figures.ts';
import { parseQueueFigures, queueFiguresChanged, sumQueueFigures, type QueueFigures } from './queue-figures.ts';

/** Of a relay's pods that answered: how many refused the config mounted now. */
export interface RelayConfigFigures {
  readonly rejected: number;
  readonly pods: number;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/**
 * Reads each relay's pods' /metrics (found through the EndpointSlices of the relay's headless
 * Service, as Prometheus would) and keeps per-domain figures for SendingDomain status. Calls
 * `onChange(namespace, relay)` when a relay's figures differ from the last poll, so status is
 * written only when something moved.
 */
export class ReputationPoller {
  readonly #figures = new Map<string, Map<string, DomainFigures>>();
  readonly #config = new Map<string, RelayConfigFigures>();
  readonly #queue = new Map<string, QueueFigures>();
  readonly #tls = new Map<string, DeliveryTlsFigures>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly slices: Informer<V1EndpointSlice>,
    private readonly relays: () => { namespace: string; name: string }[],
    private readonly onChange: (namespace: string, relay: string) => void,
    /** For EndpointSlices of type FQDN. */
    private readonly resolve: (host: string) => Promise<string | undefined>,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  /** Figures of a domain sent through a relay, once a poll has seen it. */
  get(namespace: string, relay: string, domain: string): DomainFigures | undefined {
    return this.#figures.get(`${namespace}/${relay}`)?.get(domain);
  }

  /** What the relay's pods said of their config at the last poll that reached one. */
  config(namespace: string, relay: string): RelayConfigFigures | undefined {
    return this.#config.get(`${namespace}/${relay}`);
  }

  /** The relay's queue summed over the pods that answered the last poll (MailRelay.status.queue). */
  queue(namespace: string, relay: string): QueueFigures | undefined {
    return this.#queue.get(`${namespace}/${relay}`);
  }

  /** TLS use of the relay's deliveries to the big providers, summed over its pods (BulkSenderReady). */
  deliveryTls(namespace: string, relay: string): DeliveryTlsFigures | undefined {
    return this.#tls.get(`${namespace}/${relay}`);
  }

  start(): void {
    const tick = () => {
      this.#running = this.pollAll().finally(() => {
        this.#timer = setTimeout(tick, this.intervalMs);
        this.#timer.unref();
      });
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#running;
  }

  async pollAll(): Promise<void> {
    await Promise.all(this.relays().map((r) => this.#poll(r.namespace, r.name)));
  }

  async #poll(namespace: string, relay: string): Promise<void> {
    const headless = names.relayHeadlessService(relay);
    const endpoints = this.slices
      .list(namespace)
      .filter((s) => s.metadata?.labels?.[SERVICE_NAME_LABEL] === headless)
      .flatMap((s) => {
        const port = s.ports?.find((p) => p.name === 'metrics')?.port ?? ports.metrics;
        return (s.endpoints ?? []).filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses.slice(0, 1).map((address) => ({ address, port, fqdn: s.addressType === 'FQDN' })));
      });
    const targets: string[] = [];
    for (const e of endpoints) {
      const ip = e.fqdn ? await this.resolve(e.address) : e.address;
      if (ip) targets.push(ip.includes(':') ? `[${ip}]:${e.port}` : `${ip}:${e.port}`);
    }
    let merged: Map<string, DomainFigures> | undefined;
    let queue: QueueFigures | undefined;
    let tls: DeliveryTlsFigures | undefined;
    const config = { rejected: 0, pods: 0 };
    for (const target of targets) {
      let text: string;
      try {
        const res = await fetch(`http://${target}/metrics`, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        text = await res.text();
      } catch (err) {
        this.logger.debug('relay metrics unavailable', { namespace, name: relay, target, error: (err as Error).message });
        continue;
      }
      config.pods++;
      if (parseConfigRejected(text)) config.rejected++;
      const podQueue = parseQueueFigures(text);
      if (podQueue) queue = queue ? sumQueueFigures(queue, podQueue) : podQueue;
      const podTls = parseDeliveryTls(text);
      if (podTls) tls = tls ? { delivered: tls.delivered + podTls.delivered, tls: tls.tls + podTls.tls } : podTls;
      const pod = parseRelayFigures(text);
      if (!merged) merged = pod;
      else for (const [domain, f] of pod) merged.set(domain, merged.has(domain) ? mergeFigures(merged.get(domain)!, f) : f);
    }
    if (!merged) return;
    const key = `${namespace}/${relay}`;
    const before = this.#config.get(key);
    const configChanged = before?.rejected !== config.rejected || before.pods !== config.pods;
    this.#config.set(key, config);
    const queueChanged = queue !== undefined && queueFiguresChanged(this.#queue.get(key), queue);
    if (queue) this.#queue.set(key, queue);
    const tlsBefore = this.#tls.get(key);
    const tlsChanged = tls !== undefined && (tlsBefore?.delivered !== tls.delivered || tlsBefore.tls !== tls.tls);
    if (tls) this.#tls.set(key, tls);
    if (JSON.stringify([...(this.#figures.get(key) ?? [])]) !== JSON.stringify([...merged]) || configChanged || queueChanged || tlsChanged) {
      this.#figures.set(key, merged);
      this.onChange(namespace, relay);
    }
  }
}
