import type { V1Pod } from '@kubernetes/client-node';
import type { Informer } from '../kube/informer.ts';
import { OperatorError } from '../errors.ts';
import { relaySelectorLabels } from '../resources/labels.ts';
import { names, ports } from '../resources/names.ts';

/** A pod of a relay's StatefulSet, as the admin API reaches it. */
export interface RelayPod {
  readonly name: string;
  /** The StatefulSet ordinal (`<relay>-<ordinal>`). */
  readonly ordinal: number;
  readonly ip: string;
  readonly ready: boolean;
}

export interface RelayAdminResponse<T> {
  readonly status: number;
  readonly body: T;
}

export interface RelayAdminDeps {
  readonly pods: Informer<V1Pod>;
  /** The relay's admin token (auth Secret, key admin.token), read from the API server. */
  readonly token: (namespace: string, relay: string) => Promise<string | undefined>;
  readonly timeoutMs?: number;
  /** Tests reach a relay process on another port; pods listen on ports.admin. */
  readonly port?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** The pods of a relay that have an address, by ordinal. Pure. */
export function buildRelayPods(relay: string, pods: readonly V1Pod[]): RelayPod[] {
  const selector = Object.entries(relaySelectorLabels(relay));
  const prefix = `${names.relayStatefulSet(relay)}-`;
  const out: RelayPod[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '';
    const labels = pod.metadata?.labels ?? {};
    if (!name.startsWith(prefix) || !selector.every(([k, v]) => labels[k] === v)) continue;
    const ordinalText = name.slice(prefix.length);
    const ip = pod.status?.podIP;
    if (!/^\d{1,6}$/.test(ordinalText) || !ip || pod.metadata?.deletionTimestamp) continue;
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    out.push({ name, ordinal: Number(ordinalText), ip, ready });
  }
  return out.sort((a, b) => a.ordinal - b.ordinal);
}

/**
 * The operator's client of the relay pods' admin API (relay/src/admin/, TCP with a bearer
 * token): relay-wide pauses and drains go through it. Pods come from the Pod cache, not the
 * Service's EndpointSlices, because a pod taken out of its Service to drain still answers here.
 */
export class RelayAdmin {
  readonly #deps: RelayAdminDeps;

  constructor(deps: RelayAdminDeps) {
    this.#deps = deps;
  }

  pods(namespace: string, relay: string): RelayPod[] {
    return buildRelayPods(relay, this.#deps.pods.list(namespace));
  }

  /** One request to one pod. Throws on no answer, a missing token, or a non-2xx status (with the pod's reply). */
  async request<T>(namespace: string, relay: string, pod: RelayPod, method: string, path: string, body?: unknown): Promise<RelayAdminResponse<T>> {
    const token = await this.#deps.token(namespace, relay);
    if (!token) throw new OperatorError('EOP_RELAY_ADMIN', `no admin token in Secret ${namespace}/${names.relayAuthSecret(relay)} yet`);
    const host = pod.ip.includes(':') ? `[${pod.ip}]` : pod.ip;
    let res: Response;
    try {
      res = await fetch(`http://${host}:${this.#deps.port ?? ports.admin}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#deps.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    } catch (err) {
      throw new OperatorError('EOP_RELAY_ADMIN', `${method} ${path} on pod ${namespace}/${pod.name}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // keep the text: it goes into the error below
    }
    if (!res.ok) {
      const detail = typeof parsed === 'object' && parsed && 'message' in parsed ? String((parsed as { message: unknown }).message) : text.slice(0, 200);
      throw new OperatorError('EOP_RELAY_ADMIN', `${method} ${path} on pod ${namespace}/${pod.name}: HTTP ${res.status}: ${detail}`, { status: res.status });
    }
    return { status: res.status, body: parsed as T };
  }
}
