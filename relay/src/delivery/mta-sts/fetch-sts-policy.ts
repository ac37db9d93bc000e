import { request } from 'node:https';
import type { LookupFunction } from 'node:net';
import { MAX_POLICY_BYTES } from './parse-sts-policy.ts';

export interface StsFetchOptions {
  /** Resolves the policy host through the relay's resolvers. */
  readonly lookup: LookupFunction;
  /** Trust these CAs instead of the system's (tests). */
  readonly ca?: Buffer;
  /** 443 except in tests. */
  readonly port: number;
  readonly timeoutMs: number;
}

/** Why a fetch failed: `webpki` (certificate not valid for the host, RFC 8460 `sts-webpki-invalid`) or `fetch`. */
export class StsFetchError extends Error {
  constructor(
    readonly kind: 'fetch' | 'webpki',
    message: string,
  ) {
    super(message);
    this.name = 'StsFetchError';
  }
}

const WEBPKI_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/**
 * GETs `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 section 3.3): the
 * certificate verified for that name, no redirects followed, only a 200 with a `text/plain`
 * body counts, the body capped at 64 KiB and the whole exchange at `timeoutMs`. Returns the
 * body text; throws StsFetchError otherwise.
 */
export function fetchStsPolicy(domain: string, options: StsFetchOptions): Promise<string> {
  const host = `mta-sts.${domain}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (kind: 'fetch' | 'webpki', message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(new StsFetchError(kind, message));
    };
    const req = request(
      {
        host,
        servername: host,
        port: options.port,
        path: '/.well-known/mta-sts.txt',
        method: 'GET',
        lookup: options.lookup,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        ...(options.ca ? { ca: options.ca } : {}),
        // a fresh connection per fetch: a pooled one would outlive the timeout's reach
        agent: false,
        headers: { 'user-agent': 'mail-relay', accept: 'text/plain' },
      },
      (res) => {
        if (res.statusCode !== 200) return fail('fetch', `${host} answered HTTP ${res.statusCode ?? '?'}`);
        const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'text/plain') return fail('fetch', `${host} served the policy as ${type || 'no media type'}, not text/plain`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_POLICY_BYTES) return fail('fetch', `${host} policy is larger than ${MAX_POLICY_BYTES} bytes`);
          chunks.push(chunk);
        });
        res.on('error', (err) => fail('fetch', `reading the policy from ${host} failed: ${err.message}`));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
      },
    );
    const timer = setTimeout(() => fail('fetch', `fetching the policy from ${host} timed out`), options.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      const webpki = err.code !== undefined && WEBPKI_CODES.has(err.code);
      fail(webpki ? 'webpki' : 'fetch', `fetching the policy from ${host} failed: ${err.code ?? err.message}`);
    });
    req.end();
  });
}
