import { matchDomain } from '../mail-address.ts';
import type { Submitter } from './envelope.ts';

/**
 * The domains a submitter may send as: its allowedSenderDomains, or (an empty list, or a
 * trusted-network client) every configured sending domain. Undefined when neither exists: no
 * restriction, as before sending domains were configured.
 */
export function senderScope(submitter: Submitter, configured: readonly string[]): readonly string[] | undefined {
  const allowed = submitter.kind === 'trusted' ? [] : submitter.allowedSenderDomains;
  if (allowed.length > 0) return allowed;
  return configured.length > 0 ? configured : undefined;
}

/** Whether `domain` (or a parent of it) is in the scope; an unrestricted scope takes any. */
export function inScope(domain: string, scope: readonly string[] | undefined): boolean {
  return scope === undefined || (domain !== '' && matchDomain(domain, scope) !== undefined);
}
