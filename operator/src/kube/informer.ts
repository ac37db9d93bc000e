import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { OperatorError, errorStatus } from '../errors.ts';
import { METADATA_ONLY, RestClient, resourcePath } from './rest-client.ts';
import type { WatchEvent } from './rest-client.ts';

export interface InformerOptions {
  apiVersion: string;
  kind: string;
  plural: string;
  /** 'all' watches cluster-wide (or a cluster-scoped kind); otherwise one list+watch per namespace. */
  namespaces: 'all' | string[];
  labelSelector?: string;
  /** Cache only each object's metadata (PartialObjectMetadata): for kinds whose bodies are large. */
  metadataOnly?: boolean;
  /** Full relist this often, emitting 'update' for every object; 0 turns it off. */
  resyncMs?: number;
  /** How long the server keeps one watch open; it then ends and is resumed from the last version. */
  watchTimeoutSeconds?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Injected by tests to reach the server through a fault; defaults to a client for `kc`. */
  client?: RestClient;
}

type Handler<T> = (obj: T, old?: T) => void;
type Handlers<T> = { add: Set<Handler<T>>; update: Set<Handler<T>>; delete: Set<Handler<T>>; error: Set<(err: unknown) => void> };

interface ObjectList<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** The server has compacted past our version: only a fresh list can catch up. */
class Gone extends Error {}

/**
 * A local cache of one kind, kept current by list-then-watch, in the manner of client-go's
 * reflector: the watch resumes from the version of the list (and of later bookmarks); an
 * ended watch resumes from the last version seen; 410 Gone or a failed watch relists, with
 * capped backoff between failures; the relist diffs against the cache so objects deleted
 * while no watch was open still produce 'delete'.
 */
export class Informer<T extends KubernetesObject> {
  readonly #opts: InformerOptions;
  readonly #rest: RestClient;
  readonly #cache = new Map<string, T>();
  readonly #handlers: Handlers<T> = { add: new Set(), update: new Set(), delete: new Set(), error: new Set() };
  readonly #scopes: (string | undefined)[];
  readonly #synced = new Set<string | undefined>();
  #stop = new AbortController();
  #loops: Promise<void>[] = [];
  #resyncTimer: NodeJS.Timeout | undefined;
  /** Per scope: aborts the open watch so the loop relists now (resync). */
  readonly #relistNow = new Map<string | undefined, () => void>();
  readonly #syncWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(kc: KubeConfig, opts: InformerOptions) {
    this.#opts = opts;
    this.#rest = opts.client ?? new RestClient(kc);
    this.#scopes = opts.namespaces === 'all' ? [undefined] : [...new Set(opts.namespaces)];
  }

  on(event: 'add' | 'update' | 'delete', handler: Handler<T>): this;
  on(event: 'error', handler: (err: unknown) => void): this;
  on(event: keyof Handlers<T>, handler: Handler<T> | ((err: unknown) => void)): this {
    (this.#handlers[event] as Set<typeof handler>).add(handler);
    return this;
  }

  get hasSynced(): boolean {
    return this.#synced.size === this.#scopes.length;
  }

  /** Resolves once every namespace has been listed; rejects if stopped first. */
  waitForSync(): Promise<void> {
    if (this.hasSynced) return Promise.resolve();
    return new Promise((resolve, reject) => this.#syncWaiters.push({ resolve, reject }));
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(cacheKey(namespace, name));
  }

  list(namespace?: string): T[] {
    const all = [...this.#cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  start(): void {
    if (this.#loops.length > 0) return;
    this.#stop = new AbortController();
    this.#loops = this.#scopes.map((scope) => this.#run(scope));
    const resyncMs = this.#opts.resyncMs ?? 0;
    if (resyncMs > 0) {
      this.#resyncTimer = setInterval(() => {
        for (const relist of this.#relistNow.values()) relist();
      }, resyncMs).unref();
    }
  }

  /** Aborts the open requests and waits for the loops to end, so the process can exit. */
  async stop(): Promise<void> {
    this.#stop.abort();
    clearInterval(this.#resyncTimer);
    await Promise.all(this.#loops);
    this.#loops = [];
    for (const w of this.#syncWaiters.splice(0)) w.reject(new OperatorError('EOP_WATCH_FAILED', `informer for ${this.#opts.kind} stopped before it synced`));
  }

  async #run(scope: string | undefined): Promise<void> {
    const signal = this.#stop.signal;
    const path = resourcePath(this.#opts.apiVersion, this.#opts.plural, scope);
    let version: string | undefined;
    let resync = false;
    let failures = 0;
    while (!signal.aborted) {
      const watchAbort = new AbortController();
      const onStop = (): void => watchAbort.abort();
      signal.addEventListener('abort', onStop, { once: true });
      this.#relistNow.set(scope, () => {
        resync = true;
        watchAbort.abort();
      });
      try {
        if (version === undefined) {
          version = await this.#relist(scope, path, resync, watchAbort.signal);
          resync = false;
          this.#markSynced(scope);
        }
        let failure: unknown;
        await this.#rest.watch(
          path,
          { resourceVersion: version, allowWatchBookmarks: true, timeoutSeconds: this.#opts.watchTimeoutSeconds ?? 300, labelSelector: this.#opts.labelSelector },
          (ev) => {
            if (failure !== undefined) return;
            try {
              version = this.#apply(ev) ?? version;
              failures = 0;
            } catch (err) {
              // Thrown from a stream callback it would be uncaught; end the watch and rethrow below.
              failure = err;
              watchAbort.abort();
            }
          },
          watchAbort.signal,
          this.#opts.metadataOnly ? METADATA_ONLY.object : undefined,
        );
        if (failure !== undefined && !(failure instanceof Gone)) throw failure;
        // A watch the server ended resumes from the last version; a resync or 410 lists anew.
        if (failure instanceof Gone || resync) version = undefined;
        else failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        version = undefined;
        // A resync interrupted the list or watch, or the server refused the watch's version as too old.
        if (resync || errorStatus(err) === 410) continue;
        failures++;
        this.#emitError(new OperatorError('EOP_WATCH_FAILED', `list/watch ${this.#opts.kind} in ${scope ?? 'all namespaces'} failed; relisting`, { cause: err, status: errorStatus(err) }));
        const delay = Math.min(this.#opts.backoffMaxMs ?? 30_000, (this.#opts.backoffInitialMs ?? 200) * 2 ** Math.min(failures - 1, 20));
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      } finally {
        signal.removeEventListener('abort', onStop);
      }
    }
    this.#relistNow.delete(scope);
  }

  /** Lists every page, replaces the scope's part of the cache, and returns the list's version. */
  async #relist(scope: string | undefined, path: string, resync: boolean, signal: AbortSignal): Promise<string> {
    const items: T[] = [];
    let listVersion: string | undefined;
    let cont: string | undefined;
    do {
      const page = await this.#rest.request<ObjectList<T>>('GET', path, {
        query: { limit: 500, continue: cont, labelSelector: this.#opts.labelSelector },
        signal,
        accept: this.#opts.metadataOnly ? METADATA_ONLY.list : undefined,
      });
      // An empty PartialObjectMetadataList has items: null.
      items.push(...(page.items ?? []));
      listVersion = page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont !== undefined);

    const seen = new Set<string>();
    for (const item of items) {
      // List items carry no kind; handlers and appliers expect whole objects.
      const obj = this.#normalise(item);
      const key = keyOf(obj);
      seen.add(key);
      const old = this.#cache.get(key);
      this.#cache.set(key, obj);
      if (!old) this.#emit('add', obj);
      else if (resync || old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.#emit('update', obj, old);
    }
    for (const [key, old] of this.#cache) {
      if (seen.has(key) || (scope !== undefined && old.metadata?.namespace !== scope)) continue;
      this.#cache.delete(key);
      this.#emit('delete', old);
    }
    return listVersion ?? '';
  }

  /** Applies one watch event to the cache; returns the version to resume from. */
  #apply(ev: WatchEvent): string | undefined {
    if (ev.type === 'ERROR') {
      const status = ev.object as { code?: number; message?: string };
      if (status.code === 410) throw new Gone(status.message);
      throw new OperatorError('EOP_WATCH_FAILED', `watch ${this.#opts.kind}: ${status.message ?? 'error event'}`, { status: status.code });
    }
    // PartialObjectMetadata events name their own kind; the cache holds the informer's.
    const obj = ev.type === 'BOOKMARK' || !this.#opts.metadataOnly ? (ev.object as T) : this.#normalise(ev.object as T);
    const version = obj.metadata?.resourceVersion;
    if (ev.type === 'BOOKMARK') return version;
    const key = keyOf(obj);
    const old = this.#cache.get(key);
    if (ev.type === 'DELETED') {
      this.#cache.delete(key);
      this.#emit('delete', obj);
    } else {
      this.#cache.set(key, obj);
      if (old) this.#emit('update', obj, old);
      else this.#emit('add', obj);
    }
    return version;
  }

  /**
   * List items carry no kind, and PartialObjectMetadata names its own: handlers and appliers
   * expect the informer's. A metadata-only cache also drops managedFields, often most of it.
   */
  #normalise(item: T): T {
    const obj = { ...item, apiVersion: this.#opts.apiVersion, kind: this.#opts.kind };
    if (this.#opts.metadataOnly && obj.metadata?.managedFields) obj.metadata = { ...obj.metadata, managedFields: undefined };
    return obj;
  }

  #markSynced(scope: string | undefined): void {
    this.#synced.add(scope);
    if (this.hasSynced) for (const w of this.#syncWaiters.splice(0)) w.resolve();
  }

  /** A throwing handler must not break the watch loop or other handlers. */
  #emit(event: 'add' | 'update' | 'delete', obj: T, old?: T): void {
    for (const h of this.#handlers[event]) {
      try {
        h(obj, old);
      } catch (err) {
        this.#emitError(err);
      }
    }
  }

  #emitError(err: unknown): void {
    for (const h of this.#handlers.error) {
      try {
        h(err);
      } catch {
        // An error handler that throws has nowhere left to report to.
      }
    }
  }
}

function cacheKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function keyOf(obj: KubernetesObject): string {
  return cacheKey(obj.metadata?.namespace, obj.metadata?.name ?? '');
}
