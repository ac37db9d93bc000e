import { createHash } from 'node:crypto';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { OperatorError, apiStatusOf, describeApiStatus, describeError, errorStatus } from '../errors.ts';
import { Discovery } from './discovery.ts';
import { RestClient, resourcePath } from './rest-client.ts';

/** The one field manager every operator write uses, so ownership of fields stays in one name. */
export const FIELD_MANAGER = 'mail-relay-operator';

export type ApplyResult = 'created' | 'configured' | 'unchanged';

export interface ApplyOutcome {
  result: ApplyResult;
  object: KubernetesObject;
}

export interface WriteRecord {
  kind: string;
  namespace?: string;
  name: string;
  result: ApplyResult;
}

export interface ApplierOptions {
  fieldManager?: string;
  /** Called after every request that reached the API server (never for a memoised skip). */
  onWrite?: (w: WriteRecord) => void;
  /** Shared with the caller's other components, so they use one connection pool. */
  client?: RestClient;
}

export interface ApplyOptions {
  /** The object as the informer cache holds it; lets a steady-state resync skip the request. */
  live?: KubernetesObject;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

interface Memo {
  hash: string;
  resourceVersion: string;
}

/**
 * The operator's one write path: server-side apply with force, so the operator owns exactly
 * the fields it sets and takes them back from anyone who edits them.
 *
 * A resync re-applies every object; to keep that from costing a write each, the applier
 * remembers what it last applied per object (hash of the desired body and the resourceVersion
 * the server returned). When the caller's live copy still has that resourceVersion nobody has
 * written since, so an identical desired body needs no request.
 */
export class Applier {
  /** Requests that reached the API server (apply, status apply, delete): the benchmark reads it. */
  writes = 0;
  readonly #rest: RestClient;
  readonly #discovery: Discovery;
  readonly #fieldManager: string;
  readonly #onWrite: ((w: WriteRecord) => void) | undefined;
  readonly #memo = new Map<string, Memo>();

  constructor(kc: KubeConfig, opts: ApplierOptions = {}) {
    this.#rest = opts.client ?? new RestClient(kc);
    this.#discovery = new Discovery(this.#rest);
    this.#fieldManager = opts.fieldManager ?? FIELD_MANAGER;
    this.#onWrite = opts.onWrite;
  }

  apply(obj: KubernetesObject, opts: ApplyOptions = {}): Promise<ApplyOutcome> {
    return this.#apply(obj, undefined, opts.live);
  }

  /** Applies `obj.status` through the status subresource; the main apply ignores status there. */
  applyStatus(obj: KubernetesObject & { status?: unknown }, opts: ApplyOptions = {}): Promise<ApplyOutcome> {
    const body = {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata: { name: obj.metadata?.name, namespace: obj.metadata?.namespace },
      status: obj.status,
    };
    return this.#apply(body, 'status', opts.live);
  }

  /** Deletes in the background (dependents by the garbage collector); false when already gone. */
  async delete(ref: ObjectRef): Promise<boolean> {
    const { plural, namespaced } = await this.#discovery.resolve(ref.apiVersion, ref.kind);
    const path = resourcePath(ref.apiVersion, plural, namespaced ? (ref.namespace ?? 'default') : undefined, ref.name);
    this.#memo.delete(memoKey(ref, undefined));
    this.#memo.delete(memoKey(ref, 'status'));
    this.writes++;
    try {
      await this.#rest.request('DELETE', path, { body: { propagationPolicy: 'Background' } });
      return true;
    } catch (err) {
      if (errorStatus(err) === 404) return false;
      throw new OperatorError('EOP_DELETE_FAILED', `delete ${ref.kind} ${describeRef(ref)} failed: ${failure(err)}`, { cause: err, status: errorStatus(err), api: apiStatusOf(err) });
    }
  }

  async #apply(obj: KubernetesObject, subresource: 'status' | undefined, live: KubernetesObject | undefined): Promise<ApplyOutcome> {
    const ref = refOf(obj);
    const key = memoKey(ref, subresource);
    const hash = hashObject(obj);
    const memo = this.#memo.get(key);
    const liveVersion = live?.metadata?.resourceVersion;
    if (memo && live && liveVersion === memo.resourceVersion && hash === memo.hash) {
      return { result: 'unchanged', object: live };
    }

    let status: number;
    let applied: KubernetesObject;
    try {
      const { plural, namespaced } = await this.#discovery.resolve(ref.apiVersion, ref.kind);
      const path = resourcePath(ref.apiVersion, plural, namespaced ? (ref.namespace ?? 'default') : undefined, ref.name, subresource);
      // Without a live copy or memo, the version before the write is unknown: read it, as
      // "configured" and "unchanged" are told apart by whether the apply moved it.
      const before = liveVersion ?? memo?.resourceVersion ?? (await this.#currentVersion(path));
      this.writes++;
      ({ status, body: applied } = await this.#rest.exchange<KubernetesObject>('PATCH', path, {
        query: { fieldManager: this.#fieldManager, force: true },
        body: obj,
        contentType: 'application/apply-patch+yaml',
      }));
      const after = applied.metadata?.resourceVersion ?? '';
      const result: ApplyResult = status === 201 ? 'created' : before === after ? 'unchanged' : 'configured';
      this.#memo.set(key, { hash, resourceVersion: after });
      this.#onWrite?.({ kind: ref.kind, namespace: ref.namespace, name: ref.name, result });
      return { result, object: applied };
    } catch (err) {
      this.#memo.delete(key);
      const httpStatus = errorStatus(err);
      const what = `apply ${subresource ?? ''} ${ref.kind} ${describeRef(ref)}`.replace(/\s+/g, ' ');
      const api = apiStatusOf(err);
      if (httpStatus === 409) throw new OperatorError('EOP_CONFLICT', `${what}: conflict`, { cause: err, status: httpStatus, api });
      if (err instanceof OperatorError && err.code === 'EOP_UNKNOWN_KIND') throw err;
      // The API server's words go into the message: conditions, Events and logs show only it.
      throw new OperatorError('EOP_APPLY_FAILED', `${what} failed: ${failure(err)}`, { cause: err, status: httpStatus, api });
    }
  }

  async #currentVersion(path: string): Promise<string | undefined> {
    try {
      return (await this.#rest.request<KubernetesObject>('GET', path)).metadata?.resourceVersion;
    } catch (err) {
      if (errorStatus(err) === 404) return undefined;
      throw err;
    }
  }
}

/** The API server's reason and message, else what went wrong on the way (a refused connection). */
function failure(err: unknown): string {
  const api = apiStatusOf(err);
  const status = errorStatus(err);
  return api ? `${status ?? ''} ${describeApiStatus(api)}`.trim() : describeError(err);
}

function refOf(obj: KubernetesObject): ObjectRef {
  const name = obj.metadata?.name;
  if (!obj.apiVersion || !obj.kind || !name) {
    throw new OperatorError('EOP_APPLY_FAILED', `cannot apply an object without apiVersion, kind and metadata.name (${obj.kind ?? '?'} ${name ?? '?'})`);
  }
  return { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata?.namespace, name };
}

function memoKey(ref: ObjectRef, subresource: string | undefined): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}/${subresource ?? ''}`;
}

function describeRef(ref: ObjectRef): string {
  return ref.namespace === undefined ? ref.name : `${ref.namespace}/${ref.name}`;
}

/** Key order must not matter: builders may emit the same object with keys in another order. */
function hashObject(value: unknown): string {
  return createHash('sha256').update(stableJson(value)).digest('hex');
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
