import type { KubernetesObject, V1Secret } from '@kubernetes/client-node';
import { isNotFound } from '../errors.ts';
import type { Informer } from './informer.ts';
import { resourcePath, type RestClient } from './rest-client.ts';

/**
 * Secrets by name without caching every Secret of the cluster. A metadata-only informer
 * (names, labels, owners, resourceVersions: a few hundred bytes per Secret) tells which exist
 * and when one changes; the body of a Secret is fetched when a reconcile first reads it, and
 * kept while its resourceVersion holds. So memory follows the Secrets the operator uses, not
 * the cluster's Helm release Secrets of a megabyte each.
 */
export class SecretStore {
  readonly #meta: Informer<KubernetesObject>;
  readonly #rest: RestClient;
  readonly #bodies = new Map<string, V1Secret>();
  /** Requests made for bodies: tests and the memory script read it. */
  fetches = 0;

  constructor(meta: Informer<KubernetesObject>, rest: RestClient) {
    this.#meta = meta;
    this.#rest = rest;
    // A body is kept only while its Secret exists; a changed one is fetched again on next use.
    meta.on('delete', (obj) => this.#bodies.delete(key(obj.metadata?.namespace, obj.metadata?.name ?? '')));
  }

  /** The informer of Secret metadata, for change events. */
  get informer(): Informer<KubernetesObject> {
    return this.#meta;
  }

  /** The Secret, or undefined when the informer has not seen it (it does not exist, or not yet). */
  async get(namespace: string, name: string): Promise<V1Secret | undefined> {
    const meta = this.#meta.get(namespace, name);
    const k = key(namespace, name);
    if (!meta) {
      this.#bodies.delete(k);
      return undefined;
    }
    const cached = this.#bodies.get(k);
    if (cached && cached.metadata?.resourceVersion === meta.metadata?.resourceVersion) return cached;
    this.fetches++;
    try {
      const secret = await this.#rest.request<V1Secret>('GET', resourcePath('v1', 'secrets', namespace, name));
      this.#bodies.set(k, secret);
      return secret;
    } catch (err) {
      if (isNotFound(err)) {
        this.#bodies.delete(k);
        return undefined;
      }
      throw err;
    }
  }

  /** Bodies held now. */
  get size(): number {
    return this.#bodies.size;
  }
}

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}
