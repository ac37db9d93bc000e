import type { ListenerConfig } from '../config/schema.ts';
import { SmtpReplyError } from '../errors.ts';

export const AUTH_REQUIRED_TEXT = 'Authentication required';

/**
 * On an `auth: required` listener nothing but AUTH opens a transaction: not trustedNetworks,
 * not a client that skipped STARTTLS. smtp-server has a check of its own, but it only runs
 * while AUTH is a supported command of the session, which is why this one is decided here
 * and called at the top of the MAIL and RCPT hooks.
 */
export function decideAuthRequired(listener: Pick<ListenerConfig, 'auth'>, authenticated: boolean): SmtpReplyError | undefined {
  if (listener.auth !== 'required' || authenticated) return undefined;
  return new SmtpReplyError(530, '5.7.0', AUTH_REQUIRED_TEXT, 'auth_required');
}

/**
 * AUTH PLAIN carries an authorization identity (RFC 4616) besides the authentication identity.
 * The relay has no notion of acting for another user, so only an empty one, or one naming the
 * user who logs in, is accepted; anything else is refused before any password is checked,
 * rather than logging in as the authentication identity while the client asked for another.
 */
export function decideAuthorizationIdentity(auth: { readonly username?: string; readonly authzid?: string }): SmtpReplyError | undefined {
  if (!auth.authzid || auth.authzid === auth.username) return undefined;
  return new SmtpReplyError(535, '5.7.8', 'Authorization identity must be empty or equal to the authentication identity', 'auth_failed');
}
