import { test } from 'node:test';
import assert from 'node:assert/strict';
import { complainantCandidates, originalFromDomain, parseArf, returnPathsOf } from './parse-arf.ts';
import { arfReport, gmailDsn } from '../../../test/helpers/feedback-reports.ts';

const VERP = 'b-0mx0ocs85001omw8-0-0123456789ab-ba9876543210@bounces.example.com';

test('a Yahoo-style ARF report names the return path, the complainant and the original From: domain', () => {
  const arf = parseArf(
    arfReport({ to: 'fbl@example.com', originalMailFrom: VERP, originalRcptTo: 'Reader@Yahoo.com', returnPath: VERP, originalTo: 'Reader <reader@yahoo.com>' }),
  );
  assert.ok(arf);
  assert.equal(arf.feedbackType, 'abuse');
  assert.equal(arf.userAgent, 'Yahoo!-Mail-Feedback/2.0');
  assert.equal(arf.originalMailFrom, VERP);
  assert.deepEqual(arf.originalRcptTo, ['reader@yahoo.com']);
  assert.deepEqual(returnPathsOf(arf), [VERP, VERP]);
  assert.deepEqual(complainantCandidates(arf), ['reader@yahoo.com']);
  assert.equal(originalFromDomain(arf), 'example.com');
  assert.equal(arf.original?.headers.get('subject')?.[0], 'Your receipt');
});

test('a Microsoft JMRP-style report without Original-Mail-From still has the Return-Path of the original', () => {
  const arf = parseArf(arfReport({ to: 'fbl@example.com', returnPath: VERP, originalTo: 'redacted', userAgent: 'Microsoft JMRP' }));
  assert.ok(arf);
  assert.equal(arf.originalMailFrom, undefined);
  assert.deepEqual(returnPathsOf(arf), [VERP]);
  assert.deepEqual(complainantCandidates(arf), [], 'a redacted recipient names nobody');
});

test('not-spam reports keep their type; DSNs and plain mail are not ARF', () => {
  assert.equal(parseArf(arfReport({ to: 'fbl@example.com', originalTo: 'a@example.net', feedbackType: 'not-spam' }))?.feedbackType, 'not-spam');
  assert.equal(parseArf(gmailDsn({ to: VERP, recipient: 'a@gmail.com' })), undefined);
  assert.equal(parseArf('Subject: hi\r\n\r\nhello\r\n'), undefined);
});
