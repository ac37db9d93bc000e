import type { Problem } from './queue-filter.ts';

export interface DrainRequest {
  readonly targets: ReadonlyArray<{ readonly host: string; readonly port: number; readonly token?: string }>;
  /** Not ready (out of the Service) this long before the listeners close. */
  readonly quiesceMs: number;
}

const MAX_TARGETS = 64;
const MAX_QUIESCE_S = 120;
const HOST = /^[A-Za-z0-9._-]{1,253}$/;

/** `host:port` or `[v6]:port`. */
function parseAddress(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port < 1 || port > 65535 || (m[2] !== undefined && !HOST.test(host))) return undefined;
  return { host, port };
}

/** The body of `POST /v1/drain`: `{targets: [{address: "host:port", token?}], quiesceSeconds?}`; every problem at once. */
export function parseDrainRequest(value: unknown): { request?: DrainRequest; problems: Problem[] } {
  const problems: Problem[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { problems: [{ field: '', message: 'must be a JSON object' }] };
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) if (key !== 'targets' && key !== 'quiesceSeconds') problems.push({ field: key, message: 'unknown field' });
  const targets: Array<{ host: string; port: number; token?: string }> = [];
  if (!Array.isArray(v.targets) || v.targets.length === 0 || v.targets.length > MAX_TARGETS) {
    problems.push({ field: 'targets', message: `must be a list of 1 to ${MAX_TARGETS} peers` });
  } else {
    v.targets.forEach((t: unknown, i) => {
      const field = `targets[${i}]`;
      const target = typeof t === 'object' && t !== null ? (t as Record<string, unknown>) : undefined;
      const address = typeof target?.address === 'string' ? parseAddress(target.address) : undefined;
      if (!address) return problems.push({ field: `${field}.address`, message: 'must be host:port' });
      if (target!.token !== undefined && (typeof target!.token !== 'string' || target!.token.length < 16)) {
        return problems.push({ field: `${field}.token`, message: 'must be a token of at least 16 characters' });
      }
      targets.push({ ...address, ...(typeof target!.token === 'string' ? { token: target!.token } : {}) });
    });
  }
  const quiesce = v.quiesceSeconds ?? 0;
  if (typeof quiesce !== 'number' || !Number.isInteger(quiesce) || quiesce < 0 || quiesce > MAX_QUIESCE_S) {
    problems.push({ field: 'quiesceSeconds', message: `must be an integer from 0 to ${MAX_QUIESCE_S}` });
  }
  if (problems.length > 0) return { problems };
  return { request: { targets, quiesceMs: (quiesce as number) * 1000 }, problems };
}
