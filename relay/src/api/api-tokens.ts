import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiTokenEntry } from '../config/schema.ts';

export interface ApiClient {
  readonly name: string;
  readonly allowedSenderDomains: readonly string[];
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Checks bearer tokens. Every entry is kept as the SHA-256 of its token (from `token`, or
 * given as `tokenHash`), and a presented token is hashed and compared with every entry in
 * constant time, so neither the length nor the content of a valid token leaks by timing.
 */
export class TokenVerifier {
  private readonly entries: ReadonlyArray<{ readonly digest: Buffer; readonly client: ApiClient }>;

  constructor(tokens: readonly ApiTokenEntry[]) {
    this.entries = tokens.map((t) => ({
      digest: t.token !== undefined ? sha256(t.token) : Buffer.from(t.tokenHash!.slice('sha256:'.length), 'hex'),
      client: { name: t.name, allowedSenderDomains: t.allowedSenderDomains },
    }));
  }

  /** The client an `Authorization` header value authenticates, if any. */
  verify(authorization: string | undefined): ApiClient | undefined {
    if (!authorization) return undefined;
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!match) return undefined;
    const digest = sha256(match[1]!);
    let found: ApiClient | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest)) found = entry.client;
    }
    return found;
  }
}
