import type { UserEntry } from './schema.ts';
import { ObjectReader, Problems, isObject, join } from './reader.ts';
import { parsePasswordHash } from './password.ts';

/** Parses the users file (a YAML list, or `{ users: [...] }`) into entries, listing every problem. */
export function parseUsers(input: unknown, source: string): UserEntry[] {
  const problems = new Problems();
  const list = isObject(input) && Array.isArray(input.users) ? input.users : input;
  if (!Array.isArray(list)) throw new UsersError([`${source}: must be a list of users`]);
  const seen = new Set<string>();
  const users = list.map((item, i) => {
    const r = new ObjectReader(item, join(source, i), problems);
    const username = r.string('username', { required: true });
    const passwordHash = r.string('passwordHash', { required: true });
    if (passwordHash && !parsePasswordHash(passwordHash)) {
      problems.add(join(r.path, 'passwordHash'), 'must be a hash printed by `mail-relay hash-password`');
    }
    const allowedSenderDomains = r.stringList('allowedSenderDomains').map((d) => d.toLowerCase());
    r.done();
    if (seen.has(username)) problems.add(join(r.path, 'username'), `duplicates user ${username}`);
    seen.add(username);
    return { username, passwordHash, allowedSenderDomains };
  });
  if (problems.list.length > 0) throw new UsersError(problems.list);
  return users;
}

export class UsersError extends Error {
  readonly code = 'ERELAY_USERS_INVALID';

  constructor(readonly problems: readonly string[]) {
    super(`invalid users file:\n  ${problems.join('\n  ')}`);
    this.name = 'UsersError';
  }
}
