import { randomBytes } from 'node:crypto';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { describeError, errorStatus } from '../errors.ts';
import { RestClient, microTime, resourcePath } from './rest-client.ts';

export const REPORTING_CONTROLLER = 'mailrelay.dev/mail-relay-operator';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  /** This process (the pod name), shown as the event's reportingInstance. */
  reportingInstance: string;
  reportingController?: string;
  logger?: Logger;
  /** An identical event within this long after the last one extends its series instead (client-go: 6 min). */
  seriesWindowMs?: number;
  /** Bounds memory: the least recently seen series are forgotten first. */
  maxSeries?: number;
  /** Injected by tests. */
  client?: RestClient;
}

/** One Event object and the repeats folded into it. */
interface Series {
  body: Record<string, unknown> & { metadata: { name: string; namespace: string } };
  base: string;
  count: number;
  lastSeen: number;
  /** Writes for one series go in order, so counts never go backwards. */
  pending: Promise<void>;
}

const MAX_NOTE_BYTES = 1024;

/**
 * Records events.k8s.io/v1 Events about the objects the operator reconciles. A reconcile loop
 * that fails the same way every retry would otherwise create one object per attempt; repeats
 * within the window are folded into the first event's `series` (count, lastObservedTime), as
 * client-go's event broadcaster does. Recording is best effort: failures are logged, never
 * thrown, as an event must not fail a reconcile.
 */
export class EventRecorder {
  readonly #rest: RestClient;
  readonly #instance: string;
  readonly #controller: string;
  readonly #logger: Logger | undefined;
  readonly #windowMs: number;
  readonly #maxSeries: number;
  readonly #series = new Map<string, Series>();

  constructor(kc: KubeConfig, opts: EventRecorderOptions) {
    this.#rest = opts.client ?? new RestClient(kc);
    this.#instance = opts.reportingInstance;
    this.#controller = opts.reportingController ?? REPORTING_CONTROLLER;
    this.#logger = opts.logger;
    this.#windowMs = opts.seriesWindowMs ?? 6 * 60_000;
    this.#maxSeries = opts.maxSeries ?? 4096;
  }

  /** Resolves once the event is written or the failure logged; never rejects. */
  record(regarding: KubernetesObject, type: EventType, reason: string, message: string, action: string = reason): Promise<void> {
    const meta = regarding.metadata ?? {};
    const note = truncate(message, MAX_NOTE_BYTES);
    const key = JSON.stringify([regarding.apiVersion, regarding.kind, meta.namespace, meta.name, meta.uid, type, reason, action, note]);
    const now = Date.now();
    let series = this.#series.get(key);
    if (series && now - series.lastSeen < this.#windowMs) {
      const s = series;
      s.pending = s.pending.then(() => this.#extend(s, now));
    } else {
      const base = (meta.name ?? 'object').slice(0, 200);
      const namespace = meta.namespace ?? 'default';
      const body = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: eventName(base), namespace },
        eventTime: microTime(now),
        reportingController: this.#controller,
        reportingInstance: this.#instance,
        action,
        reason,
        type,
        note,
        regarding: { apiVersion: regarding.apiVersion, kind: regarding.kind, namespace: meta.namespace, name: meta.name, uid: meta.uid, resourceVersion: meta.resourceVersion },
      };
      series = { body, base, count: 1, lastSeen: now, pending: Promise.resolve() };
      const s = series;
      s.pending = this.#create(s);
    }
    series.lastSeen = now;
    this.#touch(key, series);
    return series.pending;
  }

  async #create(series: Series): Promise<void> {
    const { namespace } = series.body.metadata;
    try {
      await this.#rest.request('POST', resourcePath('events.k8s.io/v1', 'events', namespace), { body: series.body });
    } catch (err) {
      this.#logger?.warn('could not record event', { namespace, event: series.body.metadata.name, reason: series.body.reason, error: describeError(err), status: errorStatus(err) });
    }
  }

  async #extend(series: Series, now: number): Promise<void> {
    const { namespace, name } = series.body.metadata;
    const count = series.count + 1;
    try {
      await this.#rest.request('PATCH', resourcePath('events.k8s.io/v1', 'events', namespace, name), {
        body: { series: { count, lastObservedTime: microTime(now) } },
        contentType: 'application/merge-patch+json',
      });
      series.count = count;
    } catch (err) {
      if (errorStatus(err) !== 404) {
        this.#logger?.warn('could not update event series', { namespace, event: name, error: describeError(err), status: errorStatus(err) });
        return;
      }
      // Events expire (the API server's event TTL) or a first create failed: start afresh.
      series.body = { ...series.body, metadata: { name: eventName(series.base), namespace }, eventTime: microTime(now) };
      series.count = 1;
      await this.#create(series);
    }
  }

  /** Keeps Map order as recency order, so the first key is the one to evict. */
  #touch(key: string, series: Series): void {
    this.#series.delete(key);
    this.#series.set(key, series);
    if (this.#series.size > this.#maxSeries) {
      const oldest = this.#series.keys().next().value;
      if (oldest !== undefined) this.#series.delete(oldest);
    }
  }
}

/** Unique per event; the object's name keeps it recognisable in `kubectl get events`. */
function eventName(base: string): string {
  return `${base}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}`;
}

function truncate(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let out = text.slice(0, maxBytes);
  while (Buffer.byteLength(out) > maxBytes - 3) out = out.slice(0, -1);
  return `${out}...`;
}
