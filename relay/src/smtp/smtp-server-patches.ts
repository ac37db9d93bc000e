import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * Two adjustments to smtp-server (pinned to ~3.21 in package.json; re-check on upgrade).
 *
 * 1. Enhanced status codes. smtp-server derives the RFC 3463 code of a custom reply from its
 *    numeric code alone, so `550` from a policy hook would go out as `550 5.1.1` ("no such
 *    mailbox") where we mean `550 5.7.1` (relay denied). Our replies carry their own enhanced
 *    code at the start of the text (SmtpReplyError does this); when one is present, tell
 *    smtp-server not to add another. Built-in replies keep smtp-server's codes.
 *
 * 2. Greeting delay. smtp-server waits 100 ms before the greeting to catch clients that talk
 *    too early (a spam-bot heuristic for public MX hosts). A relay's clients are applications
 *    that often open one connection per message, where that pause caps a session at ten
 *    messages a second; greet at once instead.
 */
const LEADING_ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

interface ConnectionInternals {
  send(code: number, data?: string | string[], context?: string | false): void;
  init(): void;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  __mailRelayPatched?: boolean;
}

const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
if (!proto.__mailRelayPatched) {
  const send = proto.send;
  proto.send = function patchedSend(this: ConnectionInternals, code, data, context) {
    if (typeof data === 'string' && LEADING_ENHANCED_CODE.test(data)) return send.call(this, code, data, false);
    return send.call(this, code, data, context);
  };
  proto.init = function patchedInit(this: ConnectionInternals) {
    this._setListeners(() => this.connectionReady());
  };
  proto.__mailRelayPatched = true;
}
