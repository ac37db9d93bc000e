import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { OperatorError } from '../errors.ts';

/**
 * A minimal JSON client for the API server on node:https. client-node's typed clients turn
 * timestamps into Date objects and cannot reach subresources through KubernetesObjectApi; here
 * every object stays the plain JSON the server sent, so informer caches, watch events and apply
 * results compare and hash alike.
 */

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Another representation than the whole object (metadata only: {@link METADATA_ONLY}). */
  accept?: string;
}

/**
 * Accept headers that make the API server send objects without data or spec, as client-go's
 * metadata informers ask: a watch of every Secret then costs kilobytes, not the Secrets' size.
 */
export const METADATA_ONLY = {
  list: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
  object: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
};

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: Record<string, unknown>;
}

/** The fields of a metav1.Status we act on (reason, code) or show (message, causes). */
interface Status {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

export class RestClient {
  readonly #kc: KubeConfig;
  readonly #server: URL;
  /** applyToHTTPSOptions makes a new agent without keep-alive per call: one TLS handshake per request. */
  readonly #keepAlive: http.Agent | undefined;

  constructor(kc: KubeConfig) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new OperatorError('EOP_KUBECONFIG', 'kubeconfig has no current cluster');
    this.#kc = kc;
    this.#server = new URL(cluster.server);
    // A proxy needs client-node's proxy agent; otherwise the TLS settings that applyToHTTPSOptions
    // also puts on the request options let one keep-alive agent serve every request.
    if (!cluster.proxyUrl) this.#keepAlive = this.#server.protocol === 'http:' ? new http.Agent({ keepAlive: true }) : new https.Agent({ keepAlive: true });
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return (await this.exchange<T>(method, path, opts)).body;
  }

  /** Like request(), with the HTTP status: server-side apply answers 201 when it created. */
  async exchange<T>(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; body: T }> {
    const res = await this.#send(method, path, opts);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return { status, body: (text === '' ? undefined : JSON.parse(text)) as T };
    throw apiError(method, path, status, text);
  }

  /**
   * Streams a watch until the server ends it, the connection drops, or `signal` aborts.
   * Resolves on a clean end; rejects (status set) when the server refuses the watch.
   */
  async watch(path: string, query: Query, onEvent: (ev: WatchEvent) => void, signal: AbortSignal, accept?: string): Promise<void> {
    const res = await this.#send('GET', path, { query: { ...query, watch: true }, signal, accept });
    if (res.statusCode !== 200) throw apiError('WATCH', path, res.statusCode ?? 0, await readBody(res));
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.trim() === '') return;
        let ev: WatchEvent;
        try {
          ev = JSON.parse(line) as WatchEvent;
        } catch (err) {
          // A torn line means the stream is broken; the caller relists rather than guess.
          res.destroy(new OperatorError('EOP_WATCH_FAILED', `unparseable watch event on ${path}`, { cause: err }));
          return;
        }
        onEvent(ev);
      });
      // readline re-emits its input's errors; both need a listener or an abort crashes the process.
      const onError = (err: Error): void => (signal.aborted ? resolve() : reject(err));
      res.on('error', onError);
      lines.on('error', onError);
      lines.on('close', () => resolve());
    });
  }

  async #send(method: string, path: string, opts: RequestOptions): Promise<http.IncomingMessage> {
    const url = new URL(this.#server.href.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const options: https.RequestOptions = { method, headers: { Accept: opts.accept ?? 'application/json' } };
    // Called per request: token files (in-cluster service account, exec plugins) rotate.
    await this.#kc.applyToHTTPSOptions(options);
    if (this.#keepAlive) options.agent = this.#keepAlive;
    options.signal = opts.signal;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) {
      options.headers = { ...options.headers, 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(body) };
    }
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, options, resolve);
      req.on('error', (err) => reject(new OperatorError('EOP_API_REQUEST', `${method} ${path}: ${err.message}`, { cause: err })));
      req.end(body);
    });
  }
}

function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

function apiError(method: string, path: string, status: number, text: string): OperatorError {
  let detail: Status = {};
  try {
    detail = JSON.parse(text) as Status;
  } catch {
    // Not a Status (a proxy's HTML page, say): the status code alone says enough.
  }
  const code = status === 404 ? 'EOP_NOT_FOUND' : status === 409 ? 'EOP_CONFLICT' : 'EOP_API_REQUEST';
  const message = `${method} ${path}: ${status} ${detail.reason ?? ''} ${detail.message ?? ''}`.replace(/\s+/g, ' ').trim();
  const api = detail.kind === 'Status' ? { reason: detail.reason, message: detail.message, causes: detail.details?.causes } : undefined;
  return new OperatorError(code, message, { status, api });
}

/** The REST path of a collection or object. Core group objects live under /api/v1. */
export function resourcePath(apiVersion: string, plural: string, namespace?: string, name?: string, subresource?: string): string {
  const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  const obj = name === undefined ? '' : `/${encodeURIComponent(name)}${subresource === undefined ? '' : `/${subresource}`}`;
  return `${root}${ns}/${plural}${obj}`;
}

/** metav1.MicroTime (Lease and Event times): RFC 3339 with exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
