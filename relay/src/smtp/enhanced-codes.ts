import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * smtp-server derives the enhanced status code (RFC 3463) of a custom reply from its numeric
 * code alone, so `550` from a policy hook would go out as `550 5.1.1` ("no such mailbox")
 * where we mean `550 5.7.1` (relay denied). Our replies carry their own enhanced code at the
 * start of the text (SmtpReplyError does this); when one is present, tell smtp-server not to
 * add another. Built-in replies keep smtp-server's codes.
 */
const LEADING_ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

type Send = (this: SMTPConnection, code: number, data?: string | string[], context?: string | false) => void;

const proto = SMTPConnection.prototype as unknown as { send: Send; __enhancedCodesPatched?: boolean };
if (!proto.__enhancedCodesPatched) {
  const original = proto.send;
  proto.send = function send(code, data, context) {
    if (typeof data === 'string' && LEADING_ENHANCED_CODE.test(data)) return original.call(this, code, data, false);
    return original.call(this, code, data, context);
  };
  proto.__enhancedCodesPatched = true;
}
