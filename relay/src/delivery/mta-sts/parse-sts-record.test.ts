import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStsRecord } from './parse-sts-record.ts';

test('an STSv1 record yields its id; spaces around ";", a final ";" and extension fields are allowed', () => {
  assert.deepEqual(parseStsRecord([['v=STSv1; id=20160831085700Z;']]), { kind: 'record', id: '20160831085700Z' });
  assert.deepEqual(parseStsRecord([['v=STSv1;id=abc']]), { kind: 'record', id: 'abc' });
  assert.deepEqual(parseStsRecord([['v=STSv1 ;\tid=abc ; ext_1=value']]), { kind: 'record', id: 'abc' });
});

test('the character-strings of one record are joined before parsing', () => {
  assert.deepEqual(parseStsRecord([['v=STSv1; i', 'd=split1']]), { kind: 'record', id: 'split1' });
});

test('records of other protocols are discarded; none left means no policy', () => {
  assert.deepEqual(parseStsRecord([]), { kind: 'none' });
  assert.deepEqual(parseStsRecord([['v=spf1 -all'], ['google-site-verification=x']]), { kind: 'none' });
  assert.deepEqual(parseStsRecord([['v=STSv10; id=abc']]), { kind: 'none' });
  assert.deepEqual(parseStsRecord([['v=spf1 -all'], ['v=STSv1; id=one']]), { kind: 'record', id: 'one' });
});

test('two STSv1 records, a missing or malformed id, or a bad field make the record invalid', () => {
  assert.deepEqual(parseStsRecord([['v=STSv1; id=one'], ['v=STSv1; id=two']]), { kind: 'invalid' });
  assert.deepEqual(parseStsRecord([['v=STSv1;']]), { kind: 'invalid' });
  assert.deepEqual(parseStsRecord([['v=STSv1; id=']]), { kind: 'invalid' });
  assert.deepEqual(parseStsRecord([['v=STSv1; id=has-dash']]), { kind: 'invalid' });
  assert.deepEqual(parseStsRecord([[`v=STSv1; id=${'a'.repeat(33)}`]]), { kind: 'invalid' });
  assert.deepEqual(parseStsRecord([['v=STSv1; id=a; id=b']]), { kind: 'invalid' });
  assert.deepEqual(parseStsRecord([['v=STSv1; id=a; novalue']]), { kind: 'invalid' });
  assert.deepEqual(parseStsRecord([['v=STSv1; id=a; ext=bad value']]), { kind: 'invalid' });
});

test('a huge record is refused without scanning it field by field', () => {
  assert.deepEqual(parseStsRecord([[`v=STSv1; id=a; ${'x=y;'.repeat(100_000)}`]]), { kind: 'invalid' });
});
