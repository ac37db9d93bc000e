import { SmtpReplyError } from '../errors.ts';
import { domainOf, matchDomain } from '../mail-address.ts';

/**
 * Who may send what through the relay. Pure functions of the session, so every denial and its
 * exact reply can be tested without a socket. Never an open relay: an unauthenticated client
 * outside trustedNetworks relays nothing.
 */

interface SenderUser {
  readonly allowedSenderDomains: readonly string[];
}

/** `trusted`: the client address is inside trustedNetworks. Anyone else must have authenticated. */
export function checkRelayAllowed(input: { readonly trusted: boolean; readonly user: SenderUser | undefined }): SmtpReplyError | undefined {
  if (input.user || input.trusted) return undefined;
  return new SmtpReplyError(550, '5.7.1', 'Relay access denied: authenticate or send from a trusted network', 'relay_denied');
}

/**
 * Checks MAIL FROM against the configured sending domains and the user's allowed domains.
 * Returns the sending domain the message belongs to, or the reply to refuse it with.
 */
export function checkSender(
  from: string,
  user: SenderUser | undefined,
  domains: readonly string[],
): { sendingDomain: string | undefined } | { error: SmtpReplyError } {
  if (domains.length === 0 && !user?.allowedSenderDomains.length) return { sendingDomain: undefined };
  const domain = domainOf(from);
  if (!domain) {
    return { error: new SmtpReplyError(550, '5.7.1', 'Sender address must belong to a configured sending domain', 'sender_domain') };
  }
  const sendingDomain = domains.length > 0 ? matchDomain(domain, domains) : undefined;
  if (domains.length > 0 && !sendingDomain) {
    return { error: new SmtpReplyError(550, '5.7.1', `Sender domain ${domain} is not a sending domain of this relay`, 'sender_domain') };
  }
  const allowed = user?.allowedSenderDomains ?? [];
  if (allowed.length > 0 && !matchDomain(domain, allowed)) {
    return { error: new SmtpReplyError(550, '5.7.1', `User may not send as ${domain}`, 'sender_domain') };
  }
  return { sendingDomain };
}
