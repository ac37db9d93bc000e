import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAuthRequired, decideAuthorizationIdentity } from './auth-policy.ts';

test('an auth: required listener refuses an unauthenticated transaction with 530 5.7.0', () => {
  const refusal = decideAuthRequired({ auth: 'required' }, false);
  assert.equal(refusal?.responseCode, 530);
  assert.equal(refusal?.message, '5.7.0 Authentication required');
  assert.equal(decideAuthRequired({ auth: 'required' }, true), undefined);
  assert.equal(decideAuthRequired({ auth: 'optional' }, false), undefined);
  assert.equal(decideAuthRequired({ auth: 'none' }, false), undefined);
});

test('AUTH PLAIN is refused with 535 5.7.8 when the authorization identity names someone else', () => {
  const refusal = decideAuthorizationIdentity({ username: 'app1', authzid: 'app2' });
  assert.equal(refusal?.responseCode, 535);
  assert.match(refusal?.message ?? '', /^5\.7\.8 Authorization identity/);
  assert.equal(decideAuthorizationIdentity({ username: 'app1', authzid: '' }), undefined);
  assert.equal(decideAuthorizationIdentity({ username: 'app1', authzid: 'app1' }), undefined);
  assert.equal(decideAuthorizationIdentity({ username: 'app1' }), undefined, 'AUTH LOGIN has none');
});
