import type { ApiTokenEntry } from './schema.ts';
import { ObjectReader, Problems, isObject, join } from './reader.ts';

/** Shortest plaintext token accepted: anything shorter can be guessed over the network. */
const MIN_TOKEN_LENGTH = 16;
const TOKEN_HASH = /^sha256:[0-9a-f]{64}$/;

/**
 * Parses the HTTP API tokens file (a YAML list, or `{ tokens: [...] }`) into entries, listing
 * every problem. Problems name entries by position and field, never by token value.
 */
export function parseTokens(input: unknown, source: string): ApiTokenEntry[] {
  const problems = new Problems();
  const list = isObject(input) && Array.isArray(input.tokens) ? input.tokens : input;
  if (!Array.isArray(list)) throw new TokensError([`${source}: must be a list of tokens`]);
  const names = new Set<string>();
  const secrets = new Set<string>();
  const tokens = list.map((item, i) => {
    const r = new ObjectReader(item, join(source, i), problems);
    const name = r.string('name', { required: true, pattern: /^[A-Za-z0-9._-]{1,64}$/, patternHint: 'must be 1-64 letters, digits, dots, dashes or underscores' });
    const token = r.string('token');
    const tokenHash = r.string('tokenHash');
    if (token === undefined && tokenHash === undefined) problems.add(r.path, 'needs token or tokenHash');
    if (token !== undefined && tokenHash !== undefined) problems.add(r.path, 'has both token and tokenHash; keep one');
    if (token !== undefined && (token.length < MIN_TOKEN_LENGTH || /[^\x21-\x7e]/.test(token))) {
      problems.add(join(r.path, 'token'), `must be at least ${MIN_TOKEN_LENGTH} printable ASCII characters without spaces`);
    }
    if (tokenHash !== undefined && !TOKEN_HASH.test(tokenHash)) {
      problems.add(join(r.path, 'tokenHash'), 'must be sha256: followed by 64 lower-case hex digits (printf %s TOKEN | sha256sum)');
    }
    const allowedSenderDomains = r.stringList('allowedSenderDomains').map((d) => d.toLowerCase());
    r.done();
    if (name && names.has(name)) problems.add(join(r.path, 'name'), `duplicates token ${name}`);
    names.add(name);
    const secret = token ?? tokenHash ?? '';
    if (secret && secrets.has(secret)) problems.add(r.path, 'has the same token as an earlier entry');
    secrets.add(secret);
    return { name, ...(token !== undefined ? { token } : {}), ...(tokenHash !== undefined ? { tokenHash } : {}), allowedSenderDomains };
  });
  if (problems.list.length > 0) throw new TokensError(problems.list);
  return tokens;
}

export class TokensError extends Error {
  readonly code = 'ERELAY_TOKENS_INVALID';

  constructor(readonly problems: readonly string[]) {
    super(`invalid API tokens file:\n  ${problems.join('\n  ')}`);
    this.name = 'TokensError';
  }
}
