import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * One-click unsubscribe tokens (RFC 8058): who unsubscribes from what, signed with the relay's
 * unsubscribe key so that a token cannot be made for another recipient, domain or category,
 * nor altered into one. Anyone holding a token can only unsubscribe the recipient it was made
 * for, which is what the link in that recipient's message is for.
 *
 *   base64url("v1\n<domain>\n<category>\n<recipient>") "." base64url(HMAC-SHA256 first 16 bytes)
 *
 * An empty category means the whole sending domain.
 */

export interface UnsubscribeScope {
  readonly domain: string;
  /** '' for the whole domain. */
  readonly category: string;
  readonly recipient: string;
}

const VERSION = 'v1';
const MAC_BYTES = 16;
/** A domain (253) + a category (63) + an address (320) + separators, in base64url, with the MAC. */
export const MAX_TOKEN_LENGTH = 900;
const TOKEN = /^[A-Za-z0-9_-]{1,860}\.[A-Za-z0-9_-]{22}$/;

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(payload).digest().subarray(0, MAC_BYTES);
}

export function buildUnsubscribeToken(key: Buffer, scope: UnsubscribeScope): string {
  const payload = [VERSION, scope.domain.toLowerCase(), scope.category.toLowerCase(), scope.recipient.toLowerCase()].join('\n');
  return `${Buffer.from(payload).toString('base64url')}.${mac(key, payload).toString('base64url')}`;
}

/** The scope a token was made for, or undefined when it is malformed, altered or made with another key. */
export function parseUnsubscribeToken(key: Buffer, token: string): UnsubscribeScope | undefined {
  if (token.length > MAX_TOKEN_LENGTH || !TOKEN.test(token)) return undefined;
  const [encoded, signature] = token.split('.') as [string, string];
  const payload = Buffer.from(encoded, 'base64url').toString('utf8');
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const fields = payload.split('\n');
  if (fields.length !== 4 || fields[0] !== VERSION) return undefined;
  const [, domain, category, recipient] = fields as [string, string, string, string];
  if (!domain || !recipient.includes('@')) return undefined;
  return { domain, category, recipient };
}
