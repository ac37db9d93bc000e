import { domainOf, matchDomain } from '../mail-address.ts';
import type { Submitter } from './envelope.ts';
import type { Refusal } from './outcome.ts';

export type SenderVerdict = { readonly ok: true; readonly sendingDomain: string | undefined } | { readonly ok: false; readonly refusal: Refusal };

/**
 * May this submitter use this envelope sender? With sending domains configured it must belong
 * to one of them (the message's sending domain, for metrics, pauses and suppressions), and to
 * the submitter's allowedSenderDomains when it has any.
 */
export function decideSender(sender: string, submitter: Submitter, configured: readonly string[]): SenderVerdict {
  const allowed = submitter.kind === 'trusted' ? [] : submitter.allowedSenderDomains;
  if (configured.length === 0 && allowed.length === 0) return { ok: true, sendingDomain: undefined };
  const domain = domainOf(sender);
  if (!domain) return refused('Sender address must belong to a configured sending domain');
  const sendingDomain = configured.length > 0 ? matchDomain(domain, configured) : undefined;
  if (configured.length > 0 && !sendingDomain) return refused(`Sender domain ${domain} is not a sending domain of this relay`);
  if (allowed.length > 0 && !matchDomain(domain, allowed)) {
    return refused(`${submitter.kind === 'token' ? 'Token' : 'User'} may not send as ${domain}`);
  }
  return { ok: true, sendingDomain };
}

function refused(text: string): SenderVerdict {
  return { ok: false, refusal: { reason: 'sender_domain', text } };
}
