import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isHardBounce, parseDsn } from './parse-dsn.ts';
import { UnreadableReportError } from './mime.ts';
import { gmailDsn, outlookDsn, postfixDelayDsn, arfReport } from '../../../test/helpers/feedback-reports.ts';
import { buildDsn } from '../delivery/dsn.ts';

const TO = 'b-0mx0ocs85001omw8-0-0123456789ab-ba9876543210@bounces.example.com';

test('a Gmail bounce (nested multipart/related, folded Diagnostic-Code) is a hard bounce for its recipient', async () => {
  const dsn = await parseDsn(gmailDsn({ to: TO, recipient: 'Nobody@gmail.com' }));
  assert.ok(dsn);
  assert.equal(dsn.reportingMta, 'googlemail.com');
  assert.equal(dsn.recipients.length, 1);
  const [r] = dsn.recipients;
  assert.equal(r!.finalRecipient, 'nobody@gmail.com');
  assert.equal(r!.action, 'failed');
  assert.equal(r!.status, '5.1.1');
  assert.match(r!.diagnostic!, /^smtp; 550-5\.1\.1 The email account .*\?p=NoSuchUser$/);
  assert.ok(isHardBounce(r!));
});

test('a Microsoft 365 NDR with a base64 delivery-status part gives Original- and Final-Recipient', async () => {
  const dsn = await parseDsn(outlookDsn({ to: TO, recipient: 'gone.user@contoso.com' }));
  assert.ok(dsn);
  assert.deepEqual(
    dsn.recipients.map((r) => [r.originalRecipient, r.finalRecipient, r.action, r.status]),
    [['gone.user@contoso.com', 'gone.user@contoso.com', 'failed', '5.1.10']],
  );
  assert.ok(isHardBounce(dsn.recipients[0]!));
});

test('a Postfix delay warning is a DSN but not a hard bounce', async () => {
  const dsn = await parseDsn(postfixDelayDsn({ to: TO, recipient: 'slow@example.org' }));
  assert.ok(dsn);
  assert.equal(dsn.recipients[0]!.action, 'delayed');
  assert.equal(dsn.recipients[0]!.status, '4.4.1');
  assert.equal(isHardBounce(dsn.recipients[0]!), false);
});

test("the relay's own DSNs parse back to what they report", async () => {
  const message = buildDsn({
    hostname: 'relay.example.com',
    queueId: 'Q1',
    originalSender: 'app@example.com',
    arrivalDate: new Date(0),
    failures: [
      { recipient: 'a@example.net', reply: '550 5.1.1 no such user', remoteHost: 'mx.example.net', expired: false },
      { recipient: 'b@example.net', reply: '451 4.4.1 timeout', expired: true },
    ],
    originalHeaders: Buffer.from('Subject: x\r\n\r\n'),
    now: new Date(0),
    dsnId: 'D1',
  });
  const dsn = await parseDsn(message.toString('latin1'));
  assert.deepEqual(
    dsn?.recipients.map((r) => [r.finalRecipient, r.status, isHardBounce(r)]),
    [
      ['a@example.net', '5.1.1', true],
      ['b@example.net', '4.4.7', false],
    ],
  );
});

test('messages that are not delivery reports are not DSNs: an ARF report, an auto-reply, garbage', async () => {
  assert.equal(await parseDsn(arfReport({ to: 'fbl@example.com', originalTo: 'x@example.net' })), undefined);
  assert.equal(await parseDsn('From: someone@example.net\r\nSubject: Out of office\r\n\r\nI am away until Monday.\r\n'), undefined);
  assert.equal(await parseDsn('\u0000\u0001 not even headers'), undefined);
  assert.equal(await parseDsn('Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n'), undefined);
});

function dsnWith(finalRecipient: string, status: string): string {
  return [
    'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
    '',
    '--b',
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; x',
    '',
    `Final-Recipient: rfc822; ${finalRecipient}`,
    'Action: failed',
    `Status: ${status}`,
    '--b--',
  ].join('\r\n');
}

test('hostile input parses to nothing instead of hanging or throwing', async () => {
  const dsn = await parseDsn(dsnWith(`a@${'b'.repeat(20_000)}<`, `5.${'1'.repeat(10_000)}`));
  assert.equal(dsn?.recipients[0]?.finalRecipient, undefined);
  assert.equal(dsn?.recipients[0]?.status, '', 'no valid status');
  assert.equal(await parseDsn(`Content-Type: multipart/report; boundary="${'"'.repeat(50_000)}\r\n\r\n${'\r\n'.repeat(50_000)}`), undefined);
});

test('report fields past the parser limits make the report unreadable, not a slow parse', async () => {
  await assert.rejects(parseDsn(dsnWith(`a@${'b'.repeat(300_000)}`, '5.1.1')), UnreadableReportError);
});
