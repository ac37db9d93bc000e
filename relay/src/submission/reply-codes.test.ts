import { test } from 'node:test';
import assert from 'node:assert/strict';
import { REPLY_CODES, httpReply, smtpReply } from './reply-codes.ts';

test('a From:/Sender: refusal is 550 5.7.1 over SMTP and 403 over HTTP, with the reason as the metric label', () => {
  const refusal = { reason: 'header_sender_domain', text: 'From: domain other.test is not one this sender may use' } as const;
  const smtp = smtpReply(refusal);
  assert.equal(smtp.responseCode, 550);
  assert.equal(smtp.message, '5.7.1 From: domain other.test is not one this sender may use');
  assert.equal(smtp.reason, 'header_sender_domain');
  const http = httpReply(refusal);
  assert.equal(http.status, 403);
  assert.equal(http.error, 'sender_not_allowed');
  assert.equal(http.message, 'From: domain other.test is not one this sender may use');
});

test('temporary refusals tell HTTP clients when to retry; message refusals name the message field', () => {
  assert.equal(httpReply({ reason: 'spool_full', text: 'Insufficient system storage, try again later' }).extra.retryAfter, 30);
  const invalid = httpReply({ reason: 'invalid_header_from', text: 'Message has no From: header' });
  assert.equal(invalid.status, 400);
  assert.equal(invalid.message, 'message has no From: header');
  assert.deepEqual(invalid.extra.problems, [{ field: 'message', message: 'Message has no From: header' }]);
  for (const [reason, { smtp }] of Object.entries(REPLY_CODES)) {
    assert.equal(String(smtp[0])[0], smtp[1][0], `${reason}: the enhanced status class matches the reply code`);
  }
});
