import type { V1EndpointSlice } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import type { Informer } from '../kube/informer.ts';
import { names, ports } from '../resources/names.ts';
import { parseConfigRejected, parseDeliveryTls, parseRelayFigures, sumFigures, type DeliveryTlsFigures, type DomainFigures, type PodDomainFigures } from './relay-figures.ts';
import { parseQueueFigures, queueFiguresChanged, sumQueueFigures, type QueueFigures } from './queue-figures.ts';

/** Of a relay's pods that answered: how many refused the config mounted now. */
export interface RelayConfigFigures {
  readonly rejected: number;
  readonly pods: number;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** One pod's figures of one domain, with the pod's address (how the admin API finds it). */
export interface PodFigures {
  readonly ip: string;
  readonly figures: PodDomainFigures;
}

/**
 * Reads each relay's pods' /metrics (found through the EndpointSlices of the relay's headless
 * Service, as Prometheus would) and keeps per-pod and summed per-domain figures for
 * SendingDomain status and the relay-wide pause. Calls `onChange(namespace, relay)` when a
 * relay's figures differ from the last poll, so status is written only when something moved,
 * and the `onPoll` listeners after every poll that reached a pod.
 */
export class ReputationPoller {
  readonly #figures = new Map<string, Map<string, DomainFigures>>();
  readonly #pods = new Map<string, Map<string, PodFigures[]>>();
  readonly #pollListeners: Array<(namespace: string, relay: string) => void> = [];
  readonly #config = new Map<string, RelayConfigFigures>();
  readonly #queue = new Map<string, QueueFigures>();
  readonly #podState = new Map<string, string>();
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

  /** Each pod's figures of a domain at the last poll. */
  pods(namespace: string, relay: string, domain: string): readonly PodFigures[] {
    return this.#pods.get(`${namespace}/${relay}`)?.get(domain) ?? [];
  }

  /** Called after every poll of a relay that reached at least one pod. */
  onPoll(listener: (namespace: string, relay: string) => void): void {
    this.#pollListeners.push(listener);
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
    const targets: Array<{ ip: string; target: string }> = [];
    for (const e of endpoints) {
      const ip = e.fqdn ? await this.resolve(e.address) : e.address;
      if (ip) targets.push({ ip, target: ip.includes(':') ? `[${ip}]:${e.port}` : `${ip}:${e.port}` });
    }
    const perPod = new Map<string, PodFigures[]>();
    let queue: QueueFigures | undefined;
    let tls: DeliveryTlsFigures | undefined;
    const config = { rejected: 0, pods: 0 };
    for (const { ip, target } of targets) {
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
      for (const [domain, figures] of parseRelayFigures(text)) {
        if (!perPod.has(domain)) perPod.set(domain, []);
        perPod.get(domain)!.push({ ip, figures });
      }
    }
    if (config.pods === 0) return;
    const merged = new Map([...perPod].map(([domain, pods]) => [domain, sumFigures(pods.map((p) => p.figures))]));
    const key = `${namespace}/${relay}`;
    // the relay-wide pause follows each pod's pause and resume, not only the sums
    const podState = JSON.stringify([...perPod].map(([d, pods]) => [d, pods.map((p) => [p.ip, p.figures.relayWideSince, p.figures.resumedAt, p.figures.paused])]));
    const podsChanged = podState !== this.#podState.get(key);
    this.#podState.set(key, podState);
    this.#pods.set(key, perPod);
    const before = this.#config.get(key);
    const configChanged = before?.rejected !== config.rejected || before.pods !== config.pods;
    this.#config.set(key, config);
    const queueChanged = queue !== undefined && queueFiguresChanged(this.#queue.get(key), queue);
    if (queue) this.#queue.set(key, queue);
    const tlsBefore = this.#tls.get(key);
    const tlsChanged = tls !== undefined && (tlsBefore?.delivered !== tls.delivered || tlsBefore.tls !== tls.tls);
    if (tls) this.#tls.set(key, tls);
    if (figuresText(this.#figures.get(key)) !== figuresText(merged) || configChanged || podsChanged || queueChanged || tlsChanged) {
      this.#figures.set(key, merged);
      this.onChange(namespace, relay);
    }
    for (const listener of this.#pollListeners) listener(namespace, relay);
  }
}

function figuresText(figures: Map<string, DomainFigures> | undefined): string {
  return JSON.stringify([...(figures ?? [])].map(([d, f]) => [d, f.window, f.breach, [...f.categories], f.pausedPods, f.pods]));
}
