import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideMxAllowed } from './decide-mx-allowed.ts';

test('an exact mx line matches that host only, case-insensitively and with or without a final dot', () => {
  const policy = { mx: ['mail.example.com'] };
  assert.equal(decideMxAllowed(policy, 'mail.example.com'), true);
  assert.equal(decideMxAllowed(policy, 'MAIL.Example.com.'), true);
  assert.equal(decideMxAllowed(policy, 'mail2.example.com'), false);
  assert.equal(decideMxAllowed(policy, 'evilmail.example.com'), false);
  assert.equal(decideMxAllowed(policy, 'mail.example.com.evil.net'), false);
});

test('a wildcard stands for exactly one leftmost label (RFC 8461 section 4.1)', () => {
  const policy = { mx: ['*.example.net'] };
  assert.equal(decideMxAllowed(policy, 'mx1.example.net'), true);
  assert.equal(decideMxAllowed(policy, 'example.net'), false);
  assert.equal(decideMxAllowed(policy, 'a.b.example.net'), false);
  assert.equal(decideMxAllowed(policy, 'mx1.badexample.net'), false);
});

test('no mx line matches nothing', () => {
  assert.equal(decideMxAllowed({ mx: [] }, 'mx.example.com'), false);
});
