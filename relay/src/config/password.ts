import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashes for `usersFile`: `scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>`.
 * The parameters travel in the string so they can be raised later without breaking old hashes.
 */

const DEFAULT = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

interface ParsedHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Derives an scrypt key; the relay's AUTH path passes one that runs off the libuv threadpool (scrypt-worker.ts). */
export type DeriveKey = (password: string, salt: Buffer, keylen: number, options: ScryptOptions) => Promise<Buffer>;

function scryptAsync(password: string | Buffer, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, KEY_LENGTH, { ...DEFAULT, maxmem: 64 * 2 ** 20 });
  return `scrypt$N=${DEFAULT.N},r=${DEFAULT.r},p=${DEFAULT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function parsePasswordHash(text: string): ParsedHash | undefined {
  const match = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(text);
  if (!match) return undefined;
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  // A power of two within what a relay can afford per AUTH; larger values would let a config stall the process.
  if (N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const salt = Buffer.from(match[4]!, 'base64');
  const hash = Buffer.from(match[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16) return undefined;
  return { N, r, p, salt, hash };
}

/** Constant-time check of a password against a parsed hash. */
export async function verifyPassword(password: string, parsed: ParsedHash, derive: DeriveKey = scryptAsync): Promise<boolean> {
  const maxmem = 128 * parsed.N * parsed.r * parsed.p + 32 * 2 ** 20;
  const candidate = await derive(password, parsed.salt, parsed.hash.length, { N: parsed.N, r: parsed.r, p: parsed.p, maxmem });
  return timingSafeEqual(candidate, parsed.hash);
}
