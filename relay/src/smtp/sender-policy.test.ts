import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRelayAllowed, checkSender } from './sender-policy.ts';
import { matchDomain } from '../mail-address.ts';

test('only authenticated or trusted clients may relay', () => {
  assert.equal(checkRelayAllowed({ trusted: true, user: undefined }), undefined);
  assert.equal(checkRelayAllowed({ trusted: false, user: { allowedSenderDomains: [] } }), undefined);
  const denied = checkRelayAllowed({ trusted: false, user: undefined });
  assert.equal(denied?.responseCode, 550);
  assert.equal(denied?.enhancedCode, '5.7.1');
});

test('sending domains match themselves and their subdomains, most specific first', () => {
  assert.equal(matchDomain('example.com', ['example.com']), 'example.com');
  assert.equal(matchDomain('mail.example.com', ['example.com', 'mail.example.com']), 'mail.example.com');
  assert.equal(matchDomain('badexample.com', ['example.com']), undefined);
});

test('MAIL FROM must belong to a sending domain and to the user allowance', () => {
  const domains = ['example.com', 'other.org'];
  assert.deepEqual(checkSender('a@Example.COM', undefined, domains), { sendingDomain: 'example.com' });
  assert.deepEqual(checkSender('anything@anywhere.test', undefined, []), { sendingDomain: undefined }, 'no domains configured: any sender');
  const user = { allowedSenderDomains: ['example.com'] };
  assert.ok('error' in checkSender('a@other.org', user, domains));
  assert.ok('error' in checkSender('', undefined, domains), 'the null sender has no sending domain');
  assert.ok('error' in checkSender('a@x.test', user, []), 'a user allowance applies even without configured domains');
  assert.deepEqual(checkSender('a@example.com', user, []), { sendingDomain: undefined });
});
