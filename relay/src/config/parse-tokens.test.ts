import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TokensError, parseTokens } from './parse-tokens.ts';
import { TokenVerifier } from '../api/api-tokens.ts';

const hash = (t: string) => `sha256:${createHash('sha256').update(t).digest('hex')}`;

function problems(input: unknown): readonly string[] {
  try {
    parseTokens(input, 'tokens.yaml');
  } catch (err) {
    assert.ok(err instanceof TokensError);
    return err.problems;
  }
  assert.fail('expected a TokensError');
}

test('parses plaintext and hashed tokens, in a list or under tokens:', () => {
  const list = [
    { name: 'app1', token: 'a-long-enough-token-1', allowedSenderDomains: ['Example.COM'] },
    { name: 'app2', tokenHash: hash('another-long-token-2') },
  ];
  const parsed = parseTokens(list, 'tokens.yaml');
  assert.deepEqual(parsed, [
    { name: 'app1', token: 'a-long-enough-token-1', allowedSenderDomains: ['example.com'] },
    { name: 'app2', tokenHash: hash('another-long-token-2'), allowedSenderDomains: [] },
  ]);
  assert.deepEqual(parseTokens({ tokens: list }, 'tokens.yaml'), parsed);
});

test('lists every problem of a bad tokens file without echoing a token', () => {
  const secret = 'short';
  const found = problems([
    { name: 'app1', token: secret },
    { name: 'app1', tokenHash: 'md5:abc' },
    { token: 'a-long-enough-token-1', tokenHash: hash('x'), extra: 1 },
    { name: 'app4' },
    'nope',
  ]);
  assert.deepEqual(found, [
    'tokens.yaml[0].token: must be at least 16 printable ASCII characters without spaces',
    'tokens.yaml[1].tokenHash: must be sha256: followed by 64 lower-case hex digits (printf %s TOKEN | sha256sum)',
    'tokens.yaml[1].name: duplicates token app1',
    'tokens.yaml[2].name: is required',
    'tokens.yaml[2]: has both token and tokenHash; keep one',
    'tokens.yaml[2].extra: unknown key',
    'tokens.yaml[3]: needs token or tokenHash',
    'tokens.yaml[4]: must be a mapping',
    'tokens.yaml[4].name: is required',
    'tokens.yaml[4]: needs token or tokenHash',
  ]);
  assert.ok(found.every((p) => !p.includes(secret)));
  assert.deepEqual(problems({ not: 'a list' }), ['tokens.yaml: must be a list of tokens']);
});

test('the verifier accepts a bearer token matching a token or a tokenHash, and nothing else', () => {
  const verifier = new TokenVerifier(
    parseTokens(
      [
        { name: 'app1', token: 'a-long-enough-token-1', allowedSenderDomains: ['example.com'] },
        { name: 'app2', tokenHash: hash('another-long-token-2') },
      ],
      'tokens.yaml',
    ),
  );
  assert.deepEqual(verifier.verify('Bearer a-long-enough-token-1'), { name: 'app1', allowedSenderDomains: ['example.com'] });
  assert.equal(verifier.verify('bearer another-long-token-2')?.name, 'app2');
  assert.equal(verifier.verify('Bearer a-long-enough-token-'), undefined);
  assert.equal(verifier.verify('Bearer a-long-enough-token-1x'), undefined);
  assert.equal(verifier.verify(`Bearer ${hash('another-long-token-2')}`), undefined, 'the hash itself is not a token');
  assert.equal(verifier.verify('a-long-enough-token-1'), undefined);
  assert.equal(verifier.verify(undefined), undefined);
});
