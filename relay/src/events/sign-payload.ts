import { createHmac } from 'node:crypto';

/**
 * `X-Mail-Relay-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`: HMAC-SHA256 with each key
 * over `"<t>.<raw body>"`. Two keys while a secret rotates (the current one first), so a
 * receiver that knows either accepts; the timestamp lets receivers refuse replays.
 */
export function buildSignatureHeader(keys: readonly string[], unixSeconds: number, body: Buffer): string {
  const signed = Buffer.concat([Buffer.from(`${unixSeconds}.`), body]);
  return [`t=${unixSeconds}`, ...keys.map((key) => `v1=${createHmac('sha256', key).update(signed).digest('hex')}`)].join(',');
}

/**
 * The keys in a webhook's secretFile: the first line, and the second (the next key) when
 * present; blank lines and surrounding white space are ignored. Undefined when there is none.
 */
export function parseSigningKeys(text: string): string[] | undefined {
  const keys = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .slice(0, 2);
  return keys.length > 0 ? keys : undefined;
}
