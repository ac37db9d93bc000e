/**
 * Delivery and feedback reports as real providers send them (shapes copied from Gmail,
 * Microsoft 365, Postfix and Yahoo/Microsoft JMRP reports; RFC 3464 and RFC 5965 examples),
 * with the addresses filled in by the test.
 */

const crlf = (lines: string[]) => lines.join('\r\n');

/** Gmail's bounce for a mailbox that does not exist (multipart/related HTML notice, then the report). */
export function gmailDsn(opts: { to: string; recipient: string; status?: string }): string {
  const status = opts.status ?? '5.1.1';
  return crlf([
    'Delivered-To: ' + opts.to,
    'Return-Path: <>',
    'Received: from mail-sor-f69.google.com (mail-sor-f69.google.com [209.85.220.69])',
    '        by mx.bounces.example.com with ESMTPS id 5b1f17b1804b1-42e8a2b1e0dsor1234567f9.1',
    '        for <' + opts.to + '>; Sat, 28 Nov 2026 09:12:03 -0800 (PST)',
    'From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>',
    'To: ' + opts.to,
    'Auto-Submitted: auto-replied',
    'Subject: Delivery Status Notification (Failure)',
    'References: <0MX0OCS85001OMW8@relay.example.com>',
    'In-Reply-To: <0MX0OCS85001OMW8@relay.example.com>',
    'X-Failed-Recipients: ' + opts.recipient,
    'Message-ID: <6749a6f3.050a0220.2b8c6e.1234.GMR@mx.google.com>',
    'Date: Sat, 28 Nov 2026 09:12:03 -0800 (PST)',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; boundary="000000000000f1b7e506280c6e3a"; report-type=delivery-status',
    '',
    '--000000000000f1b7e506280c6e3a',
    'Content-Type: multipart/related; boundary="000000000000f1b7e506280c6e42"',
    '',
    '--000000000000f1b7e506280c6e42',
    'Content-Type: multipart/alternative; boundary="000000000000f1b7e506280c6e43"',
    '',
    '--000000000000f1b7e506280c6e43',
    'Content-Type: text/plain; charset="UTF-8"',
    '',
    '',
    '** Address not found **',
    '',
    "Your message wasn't delivered to " + opts.recipient + " because the address couldn't be found, or is unable to receive mail.",
    '',
    'Learn more here: https://support.google.com/mail/?p=NoSuchUser',
    '',
    '--000000000000f1b7e506280c6e43',
    'Content-Type: text/html; charset="UTF-8"',
    '',
    '<html><body><h2>Address not found</h2></body></html>',
    '--000000000000f1b7e506280c6e43--',
    '--000000000000f1b7e506280c6e42--',
    '--000000000000f1b7e506280c6e3a',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; googlemail.com',
    'Received-From-MTA: dns; relay.example.com',
    'Arrival-Date: Sat, 28 Nov 2026 09:12:01 -0800 (PST)',
    'X-Original-Message-ID: <0MX0OCS85001OMW8@relay.example.com>',
    '',
    'Final-Recipient: rfc822; ' + opts.recipient,
    'Action: failed',
    'Status: ' + status,
    'Remote-MTA: dns; gmail-smtp-in.l.google.com. (142.250.102.26, the server for the',
    ' domain gmail.com.)',
    'Diagnostic-Code: smtp; 550-' + status + ' The email account that you tried to reach does not exist.',
    '  Please try double-checking the recipient\'s email address for typos or',
    '  unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser',
    'Last-Attempt-Date: Sat, 28 Nov 2026 09:12:03 -0800 (PST)',
    '',
    '--000000000000f1b7e506280c6e3a',
    'Content-Type: message/rfc822',
    '',
    'From: App <app@example.com>',
    'To: ' + opts.recipient,
    'Subject: Your receipt',
    'Message-ID: <0MX0OCS85001OMW8@relay.example.com>',
    '',
    'Thanks for your order.',
    '',
    '--000000000000f1b7e506280c6e3a--',
    '',
  ]);
}

/** Microsoft 365's non-delivery report; its delivery-status part comes base64-encoded here. */
export function outlookDsn(opts: { to: string; recipient: string }): string {
  const status = crlf([
    'Reporting-MTA: dns;AM0PR01MB6420.eurprd01.prod.exchangelabs.com',
    'Received-From-MTA: dns;relay.example.com',
    'Arrival-Date: Sat, 28 Nov 2026 17:12:01 +0000',
    '',
    'Original-Recipient: rfc822;' + opts.recipient,
    'Final-Recipient: rfc822;' + opts.recipient,
    'Action: failed',
    'Status: 5.1.10',
    'Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient ' + opts.recipient + ' not found by SMTP address lookup',
    '',
  ]);
  return crlf([
    'From: postmaster@outlook.com',
    'To: <' + opts.to + '>',
    'Date: Sat, 28 Nov 2026 17:12:02 +0000',
    'Subject: Undeliverable: Your receipt',
    'Content-Type: multipart/report; report-type=delivery-status;',
    '\tboundary="93e7a5e3-22f9-4d8b-9d7d-1c2e6a0c9f11"',
    'Content-Language: en-US',
    'Message-ID: <d4a1e6c2-7b85-4c2e-9b51-5b0f6a8d2f3e@AM0PR01MB6420.eurprd01.prod.exchangelabs.com>',
    'In-Reply-To: <0MX0OCS85001OMW8@relay.example.com>',
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    '',
    '--93e7a5e3-22f9-4d8b-9d7d-1c2e6a0c9f11',
    'Content-Type: multipart/alternative; differences=Content-Type;',
    '\tboundary="a1f0c3d2-5e6b-4c7a-8d9e-0f1a2b3c4d5e"',
    '',
    '--a1f0c3d2-5e6b-4c7a-8d9e-0f1a2b3c4d5e',
    'Content-Type: text/plain; charset="us-ascii"',
    '',
    "Your message to " + opts.recipient + " couldn't be delivered.",
    '',
    '--a1f0c3d2-5e6b-4c7a-8d9e-0f1a2b3c4d5e--',
    '',
    '--93e7a5e3-22f9-4d8b-9d7d-1c2e6a0c9f11',
    'Content-Type: message/delivery-status',
    'Content-Transfer-Encoding: base64',
    '',
    ...Buffer.from(status).toString('base64').match(/.{1,76}/g)!,
    '',
    '--93e7a5e3-22f9-4d8b-9d7d-1c2e6a0c9f11',
    'Content-Type: text/rfc822-headers',
    '',
    'From: App <app@example.com>',
    'To: ' + opts.recipient,
    'Subject: Your receipt',
    '',
    '--93e7a5e3-22f9-4d8b-9d7d-1c2e6a0c9f11--',
    '',
  ]);
}

/** Postfix's "delayed mail" warning: a DSN, but not a failure. */
export function postfixDelayDsn(opts: { to: string; recipient: string }): string {
  return crlf([
    'From: MAILER-DAEMON@mx.example.org (Mail Delivery System)',
    'Subject: Delayed Mail (still being retried)',
    'To: ' + opts.to,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status;',
    '\tboundary="4Q1b2c3D4e.1732800000/mx.example.org"',
    '',
    'This is a MIME-encapsulated message.',
    '',
    '--4Q1b2c3D4e.1732800000/mx.example.org',
    'Content-Description: Notification',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.example.org.',
    '',
    '--4Q1b2c3D4e.1732800000/mx.example.org',
    'Content-Description: Delivery report',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.org',
    'X-Postfix-Queue-ID: 4Q1b2c3D4e',
    'Arrival-Date: Sat, 28 Nov 2026 12:00:00 +0000 (UTC)',
    '',
    'Final-Recipient: rfc822; ' + opts.recipient,
    'Original-Recipient: rfc822;' + opts.recipient,
    'Action: delayed',
    'Status: 4.4.1',
    'Diagnostic-Code: X-Postfix; connect to mail.example.org[192.0.2.7]:25: Connection timed out',
    'Will-Retry-Until: Thu, 3 Dec 2026 12:00:00 +0000 (UTC)',
    '',
    '--4Q1b2c3D4e.1732800000/mx.example.org--',
    '',
  ]);
}

/**
 * An ARF report as Yahoo's complaint feedback loop and Microsoft's JMRP send them: the
 * feedback-report part, then the original message with the Return-Path the receiving MTA added.
 */
export function arfReport(opts: {
  to: string;
  returnPath?: string;
  originalMailFrom?: string;
  originalRcptTo?: string;
  originalTo: string;
  originalFrom?: string;
  feedbackType?: string;
  userAgent?: string;
  /** The attached original's header as the recipient got it, instead of the Yahoo-made one. */
  original?: string;
}): string {
  return crlf([
    'From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>',
    'To: ' + opts.to,
    'Subject: FW: Your receipt',
    'Date: Sat, 28 Nov 2026 18:01:22 +0000',
    'Message-ID: <1732816882.123456@arf.mail.yahoo.com>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report;',
    '     boundary="----=_Part_1234567_89012345.1732816882"',
    '',
    '------=_Part_1234567_89012345.1732816882',
    'Content-Type: text/plain; charset="US-ASCII"',
    'Content-Transfer-Encoding: 7bit',
    '',
    'This is an email abuse report for an email message received from IP',
    '192.0.2.25 on Sat, 28 Nov 2026 17:59:01 +0000.  For more information',
    'about this format please see http://www.mipassoc.org/arf/.',
    '',
    '------=_Part_1234567_89012345.1732816882',
    'Content-Type: message/feedback-report',
    '',
    'Feedback-Type: ' + (opts.feedbackType ?? 'abuse'),
    'User-Agent: ' + (opts.userAgent ?? 'Yahoo!-Mail-Feedback/2.0'),
    'Version: 1',
    ...(opts.originalMailFrom ? ['Original-Mail-From: <' + opts.originalMailFrom + '>'] : []),
    ...(opts.originalRcptTo ? ['Original-Rcpt-To: <' + opts.originalRcptTo + '>'] : []),
    'Arrival-Date: Sat, 28 Nov 2026 17:59:01 +0000',
    'Reporting-MTA: dns; mta1005.mail.gq1.yahoo.com',
    'Source-IP: 192.0.2.25',
    'Authentication-Results: mta1005.mail.gq1.yahoo.com;',
    '   dkim=pass header.i=@example.com header.s=mr202611;',
    '   spf=pass smtp.mailfrom=bounces.example.com',
    'Reported-Domain: example.com',
    '',
    '------=_Part_1234567_89012345.1732816882',
    'Content-Type: message/rfc822',
    'Content-Disposition: inline',
    '',
    ...(opts.returnPath ? ['Return-Path: <' + opts.returnPath + '>'] : []),
    ...(opts.original !== undefined
      ? [opts.original.replace(/\r?\n$/, '')]
      : [
          'Received: from relay.example.com (EHLO relay.example.com) (192.0.2.25)',
          '  by mta1005.mail.gq1.yahoo.com with SMTPS; Sat, 28 Nov 2026 17:59:01 +0000',
          'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=mr202611;',
          '  h=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AbC123',
          'From: App <' + (opts.originalFrom ?? 'app@example.com') + '>',
          'To: ' + opts.originalTo,
          'Subject: Your receipt',
          'Message-ID: <0MX0OCS85001OMW8@relay.example.com>',
          'Date: Sat, 28 Nov 2026 17:58:59 +0000',
          'MIME-Version: 1.0',
          'Content-Type: text/plain',
        ]),
    '',
    'Thanks for your order.',
    '',
    '------=_Part_1234567_89012345.1732816882--',
    '',
  ]);
}

/** The part boundary of the hostile reports below. */
const HOSTILE_BOUNDARY = 'hostile';

function reportWith(type: string, body: string): string {
  return crlf([
    'From: attacker@example.net',
    'To: fbl@example.com',
    'Subject: report',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=feedback-report; boundary="${HOSTILE_BOUNDARY}"`,
    '',
    `--${HOSTILE_BOUNDARY}`,
    `Content-Type: ${type}`,
    '',
    body,
    `--${HOSTILE_BOUNDARY}--`,
    '',
  ]);
}

/**
 * Reports of about 1 MiB (the most the SMTP intake reads) shaped to make a parser do
 * super-linear work: many one-field blocks, one field repeated, a field continued for a
 * megabyte, parts nested deep, and many empty parts.
 */
export function hostileReports(): Record<string, string> {
  const size = 1024 * 1024;
  const block = 'Original-Rcpt-To: <a@example.net>\r\n\r\n';
  const line = 'Original-Rcpt-To: <a@example.net>\r\n';
  // each level opens a part that is itself a multipart, never closed
  const nested = (depth: number) =>
    'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary="n0"\r\n\r\n' +
    Array.from({ length: depth }, (_, i) => `--n${i}\r\nContent-Type: multipart/mixed; boundary="n${i + 1}"\r\n\r\n`).join('');
  return {
    'many field blocks': reportWith('message/feedback-report', 'Feedback-Type: abuse\r\n\r\n' + block.repeat(Math.floor(size / block.length))),
    'repeated field lines': reportWith('message/feedback-report', 'Feedback-Type: abuse\r\n' + line.repeat(Math.floor(size / line.length))),
    'huge continued field': reportWith('message/feedback-report', 'Feedback-Type: abuse\r\nUser-Agent: x' + '\r\n x'.repeat(Math.floor(size / 4))),
    'deep nesting': nested(Math.floor(size / 60)),
    'many empty parts': reportWith('message/feedback-report', 'Feedback-Type: abuse\r\n' + `--${HOSTILE_BOUNDARY}\r\n\r\n`.repeat(Math.floor(size / 14))),
    'many DSN blocks': reportWith('message/delivery-status', 'Reporting-MTA: dns; x\r\n\r\n' + 'Final-Recipient: rfc822; a@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n'.repeat(Math.floor(size / 75))),
  };
}
