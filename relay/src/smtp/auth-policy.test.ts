import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideAuthRequired } from './auth-policy.ts';

test('an auth: required listener refuses an unauthenticated transaction with 530 5.7.0', () => {
  const refusal = decideAuthRequired({ auth: 'required' }, false);
  assert.equal(refusal?.responseCode, 530);
  assert.equal(refusal?.message, '5.7.0 Authentication required');
  assert.equal(decideAuthRequired({ auth: 'required' }, true), undefined);
  assert.equal(decideAuthRequired({ auth: 'optional' }, false), undefined);
  assert.equal(decideAuthRequired({ auth: 'none' }, false), undefined);
});
