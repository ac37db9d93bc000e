import { OperatorError } from '../errors.ts';
import type { RestClient } from './rest-client.ts';

export interface ResourceInfo {
  plural: string;
  namespaced: boolean;
}

interface ApiResourceList {
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/**
 * Maps apiVersion + kind to the REST plural and scope, as kubectl does, from the API server's
 * discovery documents. A kind missing from a cached document is looked up once more, because a
 * CRD may have been established since the document was read.
 */
export class Discovery {
  readonly #rest: RestClient;
  readonly #byApiVersion = new Map<string, Map<string, ResourceInfo>>();

  constructor(rest: RestClient) {
    this.#rest = rest;
  }

  async resolve(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const cached = this.#byApiVersion.get(apiVersion)?.get(kind);
    if (cached) return cached;
    const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    let list: ApiResourceList;
    try {
      list = await this.#rest.request<ApiResourceList>('GET', root);
    } catch (err) {
      throw new OperatorError('EOP_UNKNOWN_KIND', `cannot discover ${apiVersion}`, { cause: err });
    }
    const kinds = new Map<string, ResourceInfo>();
    // Subresources (pods/status) share the kind; only top-level names are collections.
    for (const r of list.resources) if (!r.name.includes('/')) kinds.set(r.kind, { plural: r.name, namespaced: r.namespaced });
    this.#byApiVersion.set(apiVersion, kinds);
    const found = kinds.get(kind);
    if (!found) throw new OperatorError('EOP_UNKNOWN_KIND', `the server has no kind ${kind} in ${apiVersion}`);
    return found;
  }
}
