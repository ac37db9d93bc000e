import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt hashes in the relay's usersFile format (`scrypt$N=..,r=..,p=..$salt$hash`, see
 * relay/src/config/password.ts; a test checks each side accepts the other's). A hash is reused
 * while it still matches the password, so reconciles do not rewrite the users file and roll the
 * relay; checks are memoised because scrypt is deliberately slow.
 */
const PARAMS = { N: 16384, r: 8, p: 1 };
const FORMAT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

function scryptAsync(password: string, salt: Buffer, length: number, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const maxmem = 128 * params.N * params.r * params.p + 32 * 2 ** 20;
  return new Promise((resolve, reject) => scrypt(password, salt, length, { ...params, maxmem }, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, PARAMS);
  return `scrypt$N=${PARAMS.N},r=${PARAMS.r},p=${PARAMS.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function passwordMatches(password: string, encoded: string): Promise<boolean> {
  const m = FORMAT.exec(encoded);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const expected = Buffer.from(m[5]!, 'base64');
  const actual = await scryptAsync(password, Buffer.from(m[4]!, 'base64'), expected.length, { N, r, p });
  return timingSafeEqual(actual, expected);
}

export class PasswordHashes {
  readonly #verified = new Set<string>();

  /** The previous hash when it still matches, else a new one. */
  async hashFor(password: string, previous: string | undefined): Promise<string> {
    if (previous) {
      const memo = createHash('sha256').update(password).update('\0').update(previous).digest('base64');
      if (this.#verified.has(memo)) return previous;
      if (await passwordMatches(password, previous)) {
        this.#verified.add(memo);
        return previous;
      }
    }
    return hashPassword(password);
  }
}
