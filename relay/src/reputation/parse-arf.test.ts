import { test } from 'node:test';
import assert from 'node:assert/strict';
import { complainantCandidates, originalQueueId, parseArf, returnPathsOf } from './parse-arf.ts';
import { arfReport, gmailDsn, hostileReports } from '../../../test/helpers/feedback-reports.ts';
import { MAX_FIELD_BLOCKS, UnreadableReportError } from './mime.ts';

const VERP = 'b-0mx0ocs85001omw8-0-0123456789ab-ba9876543210@bounces.example.com';

test('a Yahoo-style ARF report names the return path, the complainant and the original From: domain', async () => {
  const arf = await parseArf(
    arfReport({ to: 'fbl@example.com', originalMailFrom: VERP, originalRcptTo: 'Reader@Yahoo.com', returnPath: VERP, originalTo: 'Reader <reader@yahoo.com>' }),
  );
  assert.ok(arf);
  assert.equal(arf.feedbackType, 'abuse');
  assert.equal(arf.userAgent, 'Yahoo!-Mail-Feedback/2.0');
  assert.equal(arf.originalMailFrom, VERP);
  assert.deepEqual(arf.originalRcptTo, ['reader@yahoo.com']);
  assert.deepEqual(returnPathsOf(arf), [VERP, VERP]);
  assert.deepEqual(complainantCandidates(arf), ['reader@yahoo.com']);
  assert.equal(arf.original?.headers.get('subject')?.[0], 'Your receipt');
});

test('a Microsoft JMRP-style report without Original-Mail-From still has the Return-Path of the original', async () => {
  const arf = await parseArf(arfReport({ to: 'fbl@example.com', returnPath: VERP, originalTo: 'redacted', userAgent: 'Microsoft JMRP' }));
  assert.ok(arf);
  assert.equal(arf.originalMailFrom, undefined);
  assert.deepEqual(returnPathsOf(arf), [VERP]);
  assert.deepEqual(complainantCandidates(arf), [], 'a redacted recipient names nobody');
});

test('not-spam reports keep their type; DSNs and plain mail are not ARF', async () => {
  assert.equal((await parseArf(arfReport({ to: 'fbl@example.com', originalTo: 'a@example.net', feedbackType: 'not-spam' })))?.feedbackType, 'not-spam');
  assert.equal(await parseArf(gmailDsn({ to: VERP, recipient: 'a@gmail.com' })), undefined);
  assert.equal(await parseArf('Subject: hi\r\n\r\nhello\r\n'), undefined);
});

test('a report of a megabyte of one-field blocks is read only as far as its first blocks', async () => {
  const arf = await parseArf(hostileReports()['many field blocks']!);
  assert.equal(arf?.feedbackType, 'abuse');
  // the first block holds Feedback-Type; every later one a single Original-Rcpt-To
  assert.equal(arf.originalRcptTo.length, MAX_FIELD_BLOCKS - 1);
});

test('reports past the parser limits (a megabyte of fields, deep or countless parts) are unreadable', async () => {
  const reports = hostileReports();
  for (const name of ['repeated field lines', 'huge continued field', 'deep nesting', 'many empty parts']) {
    await assert.rejects(parseArf(reports[name]!), UnreadableReportError, name);
  }
});

test("the queue id of the attached original is read from the relay's own topmost Received: only", async () => {
  const original = [
    'Received: from mx.yahoo.test ([192.0.2.1]) by mta1.yahoo.test with SMTP id abc; Sat, 28 Nov 2026 17:59:00 +0000',
    'Received: from app.example.com ([192.0.2.9])',
    '\tby relay.test (mail-relay)',
    '\twith ESMTP id 0MX0OCS85001OMW8;',
    '\tSat, 28 Nov 2026 17:58:59 +0000',
    // written by the sender, naming another message: never read
    'Received: from x ([192.0.2.66]) by relay.test (mail-relay) with ESMTP id 1AAAAAAAAAAAAAAA; Sat, 28 Nov 2026 17:58:58 +0000',
    'Message-ID: <0mx0ocs85001omw9@relay.test>',
    'From: App <app@example.com>',
  ].join('\r\n');
  const arf = await parseArf(arfReport({ to: 'fbl@example.com', originalTo: 'reader@yahoo.com', original }));
  assert.ok(arf);
  assert.equal(originalQueueId(arf, 'relay.test'), '0mx0ocs85001omw8');
  assert.equal(originalQueueId(arf, 'elsewhere.test'), undefined);
});
