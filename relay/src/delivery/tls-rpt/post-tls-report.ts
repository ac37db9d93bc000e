import { request } from 'node:https';
import type { LookupFunction } from 'node:net';

export interface PostOptions {
  readonly lookup: LookupFunction;
  readonly ca?: Buffer;
  readonly timeoutMs: number;
}

/**
 * POSTs a gzipped report to an `https:` rua (RFC 8460 section 5.4), the certificate verified,
 * no redirects followed: resolves on 2xx, rejects otherwise. The response body is not read
 * beyond being drained.
 */
export function postTlsReport(url: string, gzipped: Buffer, options: PostOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err);
      else resolve();
    };
    const req = request(
      {
        host: target.hostname,
        servername: target.hostname,
        port: target.port || 443,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        lookup: options.lookup,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ...(options.ca ? { ca: options.ca } : {}),
        agent: false,
        headers: { 'content-type': 'application/tlsrpt+gzip', 'content-length': gzipped.length, 'user-agent': 'mail-relay' },
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        finish(status >= 200 && status < 300 ? undefined : new Error(`${target.hostname} answered HTTP ${status}`));
      },
    );
    const timer = setTimeout(() => finish(new Error(`posting to ${target.hostname} timed out`)), options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish(new Error(`posting to ${target.hostname} failed: ${err.code ?? err.message}`)));
    req.end(gzipped);
  });
}
