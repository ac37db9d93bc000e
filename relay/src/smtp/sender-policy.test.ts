import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRelayAllowed } from './sender-policy.ts';
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
