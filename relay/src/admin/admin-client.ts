import { request } from 'node:http';

export type AdminEndpoint = { readonly socket: string } | { readonly host: string; readonly port: number; readonly token?: string };

export interface AdminResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** Larger answers than this are not read: a page holds at most 1000 messages (bodies: maxMessageSize in base64). */
const MAX_RESPONSE = 256 * 2 ** 20;

/** One JSON request to the admin API, over its Unix socket or TCP with a bearer token. */
export function adminRequest(endpoint: AdminEndpoint, method: string, path: string, timeoutMs = 30_000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const target =
      'socket' in endpoint
        ? { socketPath: endpoint.socket }
        : { host: endpoint.host, port: endpoint.port, ...(endpoint.token !== undefined ? { headers: { authorization: `Bearer ${endpoint.token}` } } : {}) };
    const req = request({ ...target, method, path, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) req.destroy(new Error('admin answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        } catch (err) {
          reject(new Error(`admin API answered ${res.statusCode} with no JSON`, { cause: err }));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`admin API did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
