import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retryDelay, isExpired } from './retry-policy.ts';
import { providerOf } from './provider.ts';
import { outcomesForConnectionFailure, outcomesForError, outcomesForSuccess, statusOfCode } from './outcome.ts';
import { statusOf } from './dsn.ts';
import { RateLimiter } from './limits.ts';

test('retry delays follow the schedule, repeat the last step and stay within ±10%', () => {
  const schedule = [60_000, 300_000, 900_000];
  assert.equal(retryDelay(1, schedule, 0.5), 60_000);
  assert.equal(retryDelay(2, schedule, 0.5), 300_000);
  assert.equal(retryDelay(3, schedule, 0.5), 900_000);
  assert.equal(retryDelay(9, schedule, 0.5), 900_000);
  assert.equal(retryDelay(1, schedule, 0), 54_000);
  assert.equal(retryDelay(1, schedule, 0.999999), 66_000);
  assert.equal(isExpired(0, 5 * 86_400_000, 5 * 86_400_000), true);
  assert.equal(isExpired(1, 5 * 86_400_000, 5 * 86_400_000), false);
});

test('mailbox providers are grouped from the MX host name', () => {
  assert.equal(providerOf('gmail-smtp-in.l.google.com'), 'gmail');
  assert.equal(providerOf('ASPMX.L.GOOGLE.COM.'), 'gmail');
  assert.equal(providerOf('example-com.mail.protection.outlook.com'), 'microsoft');
  assert.equal(providerOf('mta7.am0.yahoodns.net'), 'yahoo');
  assert.equal(providerOf('mx01.mail.icloud.com'), 'apple');
  assert.equal(providerOf('mx.example.net'), 'other');
  assert.equal(providerOf('notgoogle.com'), 'other');
  assert.equal(providerOf(undefined), 'other');
});

test('outcomes: 2xx delivered, 4xx and errors deferred, 5xx bounced, per recipient', () => {
  assert.equal(statusOfCode(250), 'delivered');
  assert.equal(statusOfCode(451), 'deferred');
  assert.equal(statusOfCode(550), 'bounced');
  const partial = outcomesForSuccess(['a@x', 'b@x', 'c@x'], {
    response: '250 ok',
    rejectedErrors: [
      { recipient: 'b@x', responseCode: 550, response: '550 5.1.1 unknown' },
      { recipient: 'c@x', responseCode: 452, response: '452 4.5.3 too many' },
    ],
  });
  assert.deepEqual(partial.map((o) => o.status), ['delivered', 'bounced', 'deferred']);
  assert.equal(partial[1]!.reply, '550 5.1.1 unknown');
  const timeout = outcomesForError(['a@x'], { code: 'ETIMEDOUT', message: 'Timeout' });
  assert.deepEqual(timeout.map((o) => [o.status, o.reply]), [['deferred', 'ETIMEDOUT: Timeout']]);
  const allRefused = outcomesForError(['a@x', 'b@x'], {
    code: 'EENVELOPE',
    responseCode: 550,
    rejectedErrors: [
      { recipient: 'a@x', responseCode: 550, response: '550 no' },
      { recipient: 'b@x', responseCode: 450, response: '450 later' },
    ],
  });
  assert.deepEqual(allRefused.map((o) => o.status), ['bounced', 'deferred']);
  const auth = outcomesForConnectionFailure(['a@x'], { code: 'EAUTH', command: 'AUTH PLAIN', responseCode: 535, response: '535 5.7.8 bad' });
  assert.deepEqual(auth.map((o) => [o.status, o.reply]), [['deferred', 'AUTH PLAIN failed: 535 5.7.8 bad']]);
});

test('DSN status codes come from the enhanced code, the reply code, or expiry', () => {
  assert.equal(statusOf('550 5.1.1 no such user', false), '5.1.1');
  assert.equal(statusOf('554 transaction failed', false), '5.0.0');
  assert.equal(statusOf('451 4.7.1 greylisted', true), '4.4.7');
  assert.equal(statusOf('ECONNREFUSED: connect failed', false), '4.0.0');
});

test('the rate limiter allows a one-second burst, then spaces messages', () => {
  let now = 0;
  const limiter = new RateLimiter(4, () => now);
  assert.deepEqual([limiter.reserve(), limiter.reserve(), limiter.reserve(), limiter.reserve()], [0, 0, 0, 0]);
  assert.equal(limiter.reserve(), 250);
  now = 1000;
  assert.equal(limiter.reserve(), 0);
  assert.equal(new RateLimiter(0, () => now).reserve(), 0, 'zero means unlimited');
});
