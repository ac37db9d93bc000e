import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UserEntry } from '../config/schema.ts';
import { hashPassword, parsePasswordHash, verifyPassword } from '../config/password.ts';

const CACHE_TTL_MS = 10 * 60_000;

export interface AuthenticatedUser {
  readonly username: string;
  readonly allowedSenderDomains: readonly string[];
}

/**
 * Checks SMTP AUTH credentials against the users file. scrypt is deliberately slow (~50 ms of
 * CPU), which would cap a relay at a few dozen authenticated connections per second per core;
 * apps that open a connection per message are common, so a successful check is remembered as
 * an HMAC under a per-process random key for a few minutes. The cache never holds passwords,
 * and is keyed by the stored hash so that a changed password invalidates it.
 */
export class Authenticator {
  private readonly users: Map<string, { entry: UserEntry; parsed: NonNullable<ReturnType<typeof parsePasswordHash>> }>;
  private readonly cacheKey = randomBytes(32);
  private readonly cache = new Map<string, { mac: Buffer; expires: number }>();
  private dummy: ReturnType<typeof parsePasswordHash> | undefined;

  constructor(users: readonly UserEntry[]) {
    this.users = new Map();
    for (const entry of users) {
      const parsed = parsePasswordHash(entry.passwordHash);
      if (parsed) this.users.set(entry.username, { entry, parsed });
    }
  }

  /** The user when the password is right, undefined otherwise; takes as long for unknown users. */
  async verify(username: string, password: string, now = Date.now()): Promise<AuthenticatedUser | undefined> {
    const user = this.users.get(username);
    if (!user) {
      // spend the same time as for a real user so that timing does not reveal who exists
      this.dummy ??= parsePasswordHash(await hashPassword(randomBytes(16).toString('hex')));
      await verifyPassword(password, this.dummy!);
      return undefined;
    }
    const cacheId = `${username}\0${user.entry.passwordHash}`;
    const mac = createHmac('sha256', this.cacheKey).update(password).digest();
    const cached = this.cache.get(cacheId);
    if (cached && cached.expires > now && timingSafeEqual(cached.mac, mac)) return user.entry;
    if (!(await verifyPassword(password, user.parsed))) return undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheId, { mac, expires: now + CACHE_TTL_MS });
    return user.entry;
  }
}
