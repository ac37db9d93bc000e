import { createHash, timingSafeEqual } from 'node:crypto';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The bearer token of the admin TCP listener (`admin.tokenFile`). Both sides are hashed
 * before a constant-time compare, so neither the length nor the content leaks by timing.
 */
export class AdminToken {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  accepts(authorization: string | undefined): boolean {
    const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization);
    // compare anyway, so a missing or malformed header costs as much as a wrong token
    return timingSafeEqual(sha256(match?.[1] ?? ''), this.digest) && match !== null;
  }
}
