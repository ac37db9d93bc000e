import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_POLICY_AGE, MAX_POLICY_BYTES, parseStsPolicy, StsPolicyError } from './parse-sts-policy.ts';

test('the RFC 8461 example policy parses, with CRLF or LF line ends', () => {
  const text = 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n';
  const expected = { mode: 'enforce', maxAge: 604800, mx: ['mail.example.com', '*.example.net', 'backupmx.example.com'] };
  assert.deepEqual(parseStsPolicy(text), expected);
  assert.deepEqual(parseStsPolicy(text.replace(/\r\n/g, '\n')), expected);
});

test('mx values are lower-cased without a final dot; unknown keys are extensions and ignored; the first of a repeated key wins', () => {
  const p = parseStsPolicy('version: STSv1\nmode: testing\nmode: enforce\nmx:MX.Example.COM.\nx_ext: anything at all\nmax_age:86400   \n');
  assert.deepEqual(p, { mode: 'testing', maxAge: 86400, mx: ['mx.example.com'] });
});

test('mode none needs no mx line; max_age above a year is capped', () => {
  assert.deepEqual(parseStsPolicy('version: STSv1\nmode: none\nmax_age: 9999999999\n'), { mode: 'none', maxAge: MAX_POLICY_AGE, mx: [] });
});

test('each missing or malformed field is an StsPolicyError naming it', () => {
  const cases: Array<[string, RegExp]> = [
    ['mode: enforce\nmx: a.example\nmax_age: 1', /version/],
    ['version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1', /version/],
    ['version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1', /mode/],
    ['version: STSv1\nmode: enforce\nmx: a.example', /max_age/],
    ['version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5', /max_age/],
    ['version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901', /max_age/],
    ['version: STSv1\nmode: enforce\nmax_age: 100', /no mx/],
    ['version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 100', /mx value/],
    ['version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 100', /mx value/],
    ['version: STSv1\nmode: enforce\nmx a.example\nmax_age: 100', /key: value/],
    ['<html><body>not a policy</body></html>', /key: value/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseStsPolicy(text), (err: unknown) => err instanceof StsPolicyError && message.test(err.message), text);
  }
});

test('a body over 64 KiB or with too many mx lines is refused', () => {
  assert.throws(() => parseStsPolicy(`version: STSv1\nmode: none\nmax_age: 1\n${'#'.repeat(MAX_POLICY_BYTES)}`), /larger/);
  const many = Array.from({ length: 101 }, (_, i) => `mx: mx${i}.example.com`).join('\n');
  assert.throws(() => parseStsPolicy(`version: STSv1\nmode: enforce\nmax_age: 1\n${many}`), /more than 100/);
});

test('a policy of blanks and one long value is handled in one pass (no quadratic trimming)', () => {
  const blanks = ' '.repeat(MAX_POLICY_BYTES - 100);
  assert.throws(() => parseStsPolicy(`version: STSv1\nmode: enforce\nmax_age: 1\nx_ext:${blanks}x`), /no mx/);
  assert.throws(() => parseStsPolicy(`${blanks}x`), /key: value/);
});
