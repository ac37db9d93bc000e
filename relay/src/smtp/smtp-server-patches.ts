import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/**
 * Adjustments to smtp-server (pinned exactly in package.json; smtp-server-patches.test.ts fails
 * when a patched function's source changes, so an upgrade re-checks them).
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
 *
 * 3. AUTH only under TLS (RFC 4954 section 4). smtp-server refuses AUTH before STARTTLS only
 *    where STARTTLS is offered, and advertises AUTH in EHLO on any connection, so a `tls: none`
 *    listener took passwords in clear. Without TLS the EHLO reply drops its AUTH line and the
 *    AUTH command is answered 538 5.7.11 before any credential is read (an AUTH LOGIN would
 *    otherwise be prompted for them).
 *
 * 4. Error limit (Postfix's smtpd_hard_error_limit). A client can repeat refused commands
 *    (bad syntax, out of order, refused recipients, wrong passwords) for as long as the idle
 *    timeout lets it; after `maxErrorsPerSession` 5xx (or 454, AUTH deferred) replies the
 *    session is closed with 421.
 */
const LEADING_ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;
const AUTH_FEATURE = /^AUTH( |$)/;
const ENCRYPTION_REQUIRED = '5.7.11 Encryption required for requested authentication mechanism';

interface ConnectionInternals {
  send(code: number, data?: string | string[], context?: string | false): void;
  init(): void;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  handler_AUTH(command: Buffer, callback: () => void): void;
  secure: boolean;
  _server: { options: { maxErrorsPerSession?: number } };
  __mailRelayErrors?: number;
  __mailRelayPatched?: boolean;
}

const proto = SMTPConnection.prototype as unknown as ConnectionInternals;
if (!proto.__mailRelayPatched) {
  const send = proto.send;
  proto.send = function patchedSend(this: ConnectionInternals, code, data, context) {
    if (typeof data === 'string' && LEADING_ENHANCED_CODE.test(data)) send.call(this, code, data, false);
    // the only multi-line 250 is the EHLO reply
    else if (code === 250 && Array.isArray(data) && !this.secure) send.call(this, code, data.filter((line) => !AUTH_FEATURE.test(line)), context);
    else send.call(this, code, data, context);
    const limit = this._server.options.maxErrorsPerSession;
    // 454: AUTH refused for now (throttled or busy), which a guesser would otherwise repeat at will
    if ((code >= 500 || code === 454) && limit !== undefined) {
      this.__mailRelayErrors = (this.__mailRelayErrors ?? 0) + 1;
      if (this.__mailRelayErrors === limit) send.call(this, 421, '4.7.0 Too many errors, closing connection', false);
    }
  };
  const handleAuth = proto.handler_AUTH;
  proto.handler_AUTH = function patchedHandleAuth(this: ConnectionInternals, command, callback) {
    if (!this.secure) {
      this.send(538, ENCRYPTION_REQUIRED);
      callback();
      return;
    }
    handleAuth.call(this, command, callback);
  };
  proto.init = function patchedInit(this: ConnectionInternals) {
    this._setListeners(() => this.connectionReady());
  };
  proto.__mailRelayPatched = true;
}
