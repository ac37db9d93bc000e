import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { UserEntry } from '../config/schema.ts';
import { hashPassword, parsePasswordHash, verifyPassword, type DeriveKey } from '../config/password.ts';

const CACHE_TTL_MS = 10 * 60_000;

export interface AuthenticatedUser {
  readonly username: string;
  readonly allowedSenderDomains: readonly string[];
}

/**
 * Checks SMTP AUTH credentials against the users file. scrypt is deliberately slow (~50 ms of
 * CPU), which would cap a relay at a few dozen authenticated connections per second per core;
 * apps that open a connection per message are common, so a successful check is remembered as
 * an HMAC under a per-process random key for a few minutes, and a correct retry costs no
 * scrypt (`cached`). The cache never holds passwords, and is keyed by the stored hash so that
 * a changed password invalidates it.
 */
export class Authenticator {
  private readonly users: Map<string, { entry: UserEntry; parsed: NonNullable<ReturnType<typeof parsePasswordHash>> }>;
  private readonly cacheKey = randomBytes(32);
  private readonly cache = new Map<string, { mac: Buffer; expires: number }>();
  private dummy: ReturnType<typeof parsePasswordHash> | undefined;

  /** `derive` runs scrypt (the relay passes its hashing thread's); the default is node:crypto's. */
  constructor(
    users: readonly UserEntry[],
    private readonly derive?: DeriveKey,
  ) {
    this.users = new Map();
    for (const entry of users) {
      const parsed = parsePasswordHash(entry.passwordHash);
      if (parsed) this.users.set(entry.username, { entry, parsed });
    }
  }

  /**
   * The user name as logs may show it: a configured one, else `(unknown)`. What a client typed
   * as a user name is often a password typed into the wrong field.
   */
  loggable(username: string | undefined): string {
    return username !== undefined && this.users.has(username) ? username : '(unknown)';
  }

  /** The user when these credentials were verified in the last minutes: an HMAC, no scrypt. */
  cached(username: string, password: string, now = Date.now()): AuthenticatedUser | undefined {
    const user = this.users.get(username);
    if (!user) return undefined;
    const cached = this.cache.get(this.cacheId(username, user.entry));
    return cached && cached.expires > now && timingSafeEqual(cached.mac, this.mac(password)) ? user.entry : undefined;
  }

  /** The user when the password is right, undefined otherwise; takes as long for unknown users. */
  async verify(username: string, password: string, now = Date.now()): Promise<AuthenticatedUser | undefined> {
    const user = this.users.get(username);
    if (!user) {
      // spend the same time as for a real user so that timing does not reveal who exists
      this.dummy ??= parsePasswordHash(await hashPassword(randomBytes(16).toString('hex')));
      await verifyPassword(password, this.dummy!, this.derive);
      return undefined;
    }
    const hit = this.cached(username, password, now);
    if (hit) return hit;
    if (!(await verifyPassword(password, user.parsed, this.derive))) return undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(this.cacheId(username, user.entry), { mac: this.mac(password), expires: now + CACHE_TTL_MS });
    return user.entry;
  }

  private cacheId(username: string, entry: UserEntry): string {
    return `${username}\0${entry.passwordHash}`;
  }

  private mac(password: string): Buffer {
    return createHmac('sha256', this.cacheKey).update(password).digest();
  }
}
