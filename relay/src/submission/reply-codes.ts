import { HttpError, SmtpReplyError } from '../errors.ts';
import type { Refusal, RefusalReason } from './outcome.ts';

/**
 * The one table from a refusal to each ingress's reply: SMTP code and enhanced status
 * (RFC 3463), HTTP status and the `error` of the JSON error body.
 */
export const REPLY_CODES: Readonly<Record<RefusalReason, { readonly smtp: readonly [number, string]; readonly http: readonly [number, string] }>> = {
  sender_domain: { smtp: [550, '5.7.1'], http: [403, 'sender_not_allowed'] },
  header_sender_domain: { smtp: [550, '5.7.1'], http: [403, 'sender_not_allowed'] },
  invalid_header_from: { smtp: [550, '5.6.0'], http: [400, 'invalid_message'] },
  header_too_long: { smtp: [552, '5.3.4'], http: [413, 'message_too_big'] },
  invalid_message: { smtp: [554, '5.6.0'], http: [400, 'invalid_message'] },
  message_too_big: { smtp: [552, '5.3.4'], http: [413, 'message_too_big'] },
  domain_paused: { smtp: [451, '4.7.1'], http: [423, 'domain_paused'] },
  invalid_labels: { smtp: [550, '5.6.0'], http: [400, 'invalid_request'] },
  // the reply of a domain pause: to a client, a paused category is a paused sender
  category_paused: { smtp: [451, '4.7.1'], http: [423, 'domain_paused'] },
  // every recipient unsubscribed from the message's category (known only once its header is read)
  recipients_suppressed: { smtp: [550, '5.7.1'], http: [400, 'all_recipients_rejected'] },
  spool_full: { smtp: [452, '4.3.1'], http: [503, 'spool_full'] },
  spool_error: { smtp: [451, '4.3.0'], http: [503, 'temporary_failure'] },
  receive_error: { smtp: [451, '4.3.0'], http: [400, 'request_aborted'] },
};

/** Clients are told when to retry a temporary refusal over HTTP. */
const RETRY_AFTER_S = 30;

export function smtpReply(refusal: Refusal): SmtpReplyError {
  const [code, enhanced] = REPLY_CODES[refusal.reason].smtp;
  return new SmtpReplyError(code, enhanced, refusal.text, refusal.reason, refusal.cause === undefined ? undefined : { cause: refusal.cause });
}

export function httpReply(refusal: Refusal): HttpError {
  const [status, error] = REPLY_CODES[refusal.reason].http;
  const extra =
    status === 503
      ? { retryAfter: RETRY_AFTER_S }
      : refusal.problems
        ? { problems: refusal.problems }
        : status === 400 && error === 'invalid_message'
          ? { problems: [{ field: 'message', message: refusal.text }] }
          : {};
  // HTTP error messages start in lower case, like the rest of the API's; a header name keeps its case
  const text = /^[A-Za-z-]+:/.test(refusal.text) ? refusal.text : refusal.text.charAt(0).toLowerCase() + refusal.text.slice(1);
  return new HttpError(status, error, text, refusal.reason, extra, refusal.cause === undefined ? undefined : { cause: refusal.cause });
}
