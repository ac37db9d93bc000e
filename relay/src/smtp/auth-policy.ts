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
