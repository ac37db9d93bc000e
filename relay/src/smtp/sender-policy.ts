import { SmtpReplyError } from '../errors.ts';

/**
 * Who may relay through SMTP at all. A pure function of the session, so the denial and its
 * exact reply can be tested without a socket. Never an open relay: an unauthenticated client
 * outside trustedNetworks relays nothing. What each sender may send as is
 * submission/decide-sender.ts.
 */

interface SenderUser {
  readonly allowedSenderDomains: readonly string[];
}

/** `trusted`: the client address is inside trustedNetworks. Anyone else must have authenticated. */
export function checkRelayAllowed(input: { readonly trusted: boolean; readonly user: SenderUser | undefined }): SmtpReplyError | undefined {
  if (input.user || input.trusted) return undefined;
  return new SmtpReplyError(550, '5.7.1', 'Relay access denied: authenticate or send from a trusted network', 'relay_denied');
}
