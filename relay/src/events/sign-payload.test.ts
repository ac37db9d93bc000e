import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { buildSignatureHeader, parseSigningKeys } from './sign-payload.ts';

test('the signature header is t= then one v1= HMAC-SHA256 over "<t>.<body>" per key, current key first', () => {
  const body = Buffer.from('{"id":"evt_1"}');
  const header = buildSignatureHeader(['current', 'next'], 1_700_000_000, body);
  // computed independently of the module: the receiver's view
  const expected = (key: string) => createHmac('sha256', key).update('1700000000.{"id":"evt_1"}').digest('hex');
  assert.equal(header, `t=1700000000,v1=${expected('current')},v1=${expected('next')}`);
});

test('a secret file holds the current key and optionally the next one', () => {
  assert.deepEqual(parseSigningKeys('k1\n'), ['k1']);
  assert.deepEqual(parseSigningKeys('k1\r\nk2\n'), ['k1', 'k2']);
  assert.deepEqual(parseSigningKeys('  k1  \n\n k2\nk3\n'), ['k1', 'k2'], 'a third line is not a key');
  assert.equal(parseSigningKeys('\n  \n'), undefined);
});
