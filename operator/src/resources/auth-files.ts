import { stringify } from 'yaml';
import type { UserEntry } from '../../../relay/src/config/schema.ts';
import type { SendingDomain } from '../api/v1alpha1/types.ts';

/** One API client of relay.yaml's tokensFile (DESIGN.md). */
export interface TokenEntry {
  readonly name: string;
  readonly token: string;
  readonly allowedSenderDomains: readonly string[];
}

/**
 * Sending domains a user or API client may use: those whose allowedSenders name it or are empty.
 * `undefined` means none: the relay reads an empty list as "any domain", so such a client is
 * left out of the file instead.
 */
export function allowedDomainsFor(client: string, domains: readonly Pick<SendingDomain, 'spec'>[]): string[] | undefined {
  if (domains.length === 0) return [];
  const allowed = domains
    .filter((d) => d.spec.allowedSenders.length === 0 || d.spec.allowedSenders.includes(client))
    .map((d) => d.spec.domain)
    .sort();
  return allowed.length > 0 ? allowed : undefined;
}

export function buildUsersFile(users: readonly UserEntry[]): string {
  const sorted = [...users].sort((a, b) => a.username.localeCompare(b.username));
  return stringify(sorted.map((u) => ({ username: u.username, passwordHash: u.passwordHash, allowedSenderDomains: [...u.allowedSenderDomains] })));
}

export function buildTokensFile(tokens: readonly TokenEntry[]): string {
  const sorted = [...tokens].sort((a, b) => a.name.localeCompare(b.name));
  return stringify(sorted.map((t) => ({ name: t.name, token: t.token, allowedSenderDomains: [...t.allowedSenderDomains] })));
}
