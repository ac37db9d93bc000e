import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { buildUnsubscribeHeaders, decideUnsubscribeScope, tokenFromSubject } from './unsubscribe-headers.ts';
import { decideUnsubscribeRequest } from './unsubscribe-server.ts';
import { buildUnsubscribeToken, parseUnsubscribeToken } from './unsubscribe-token.ts';

const key = randomBytes(32);
const scope = { domain: 'example.com', category: 'newsletter', recipient: 'Alice@Mail.Test' };

describe('unsubscribe tokens', () => {
  it('round-trip the scope, lower-cased', () => {
    assert.deepEqual(parseUnsubscribeToken(key, buildUnsubscribeToken(key, scope)), { domain: 'example.com', category: 'newsletter', recipient: 'alice@mail.test' });
  });

  it('refuse another key, an altered payload or MAC, and garbage', () => {
    const token = buildUnsubscribeToken(key, scope);
    assert.equal(parseUnsubscribeToken(randomBytes(32), token), undefined);
    const [payload, mac] = token.split('.') as [string, string];
    const other = Buffer.from('v1\nexample.com\nnewsletter\nbob@mail.test').toString('base64url');
    assert.equal(parseUnsubscribeToken(key, `${other}.${mac}`), undefined, 'a MAC does not carry over to another recipient');
    const flipped = `${payload}.${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    assert.equal(parseUnsubscribeToken(key, flipped), undefined);
    for (const bad of ['', '.', 'abc', `${payload}`, `${payload}.${mac}.x`, `${'A'.repeat(5000)}.${mac}`]) assert.equal(parseUnsubscribeToken(key, bad), undefined, bad.slice(0, 20));
  });

  it('keep the whole-domain scope apart from a category scope', () => {
    const domainWide = buildUnsubscribeToken(key, { ...scope, category: '' });
    assert.equal(parseUnsubscribeToken(key, domainWide)?.category, '');
    assert.notEqual(domainWide, buildUnsubscribeToken(key, scope));
  });
});

describe('buildUnsubscribeHeaders', () => {
  it('puts the HTTPS link first, the mailto with the token in the subject, and the one-click header', () => {
    const lines = buildUnsubscribeHeaders(key, { url: 'https://u.example.com/', mailto: 'unsubscribe@fb.example.com' }, scope);
    const token = buildUnsubscribeToken(key, scope);
    assert.equal(
      lines,
      `List-Unsubscribe: <https://u.example.com/u/${token}>,\r\n <mailto:unsubscribe@fb.example.com?subject=unsubscribe%20${token}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n`,
    );
    assert.equal(tokenFromSubject(`Re: unsubscribe ${token}`), token);
    assert.equal(tokenFromSubject('please unsubscribe me'), undefined);
  });

  it('has no mailto when no intake address is given', () => {
    assert.doesNotMatch(buildUnsubscribeHeaders(key, { url: 'https://u.example.com' }, scope), /mailto/);
  });
});

describe('decideUnsubscribeScope', () => {
  const domain = { name: 'example.com', bulk: false, categories: [{ name: 'newsletter', bulk: true }, { name: 'password-reset', bulk: false }] };
  it('scopes to a bulk category, skips transactional ones, and a bulk domain covers the rest', () => {
    assert.deepEqual(decideUnsubscribeScope(domain, 'newsletter'), { domain: 'example.com', category: 'newsletter' });
    assert.equal(decideUnsubscribeScope(domain, 'password-reset'), undefined);
    assert.equal(decideUnsubscribeScope(domain, undefined), undefined);
    assert.deepEqual(decideUnsubscribeScope({ ...domain, bulk: true }, 'undeclared'), { domain: 'example.com', category: '' });
    assert.equal(decideUnsubscribeScope(undefined, 'newsletter'), undefined);
  });
});

describe('decideUnsubscribeRequest', () => {
  const token = buildUnsubscribeToken(key, scope);
  const knows = () => true;
  it('shows a page on GET and changes nothing; unsubscribes on the one-click POST only', () => {
    assert.deepEqual(decideUnsubscribeRequest(key, 'GET', `/u/${token}`, '', knows), { kind: 'page', token });
    assert.deepEqual(decideUnsubscribeRequest(key, 'POST', `/u/${token}`, 'List-Unsubscribe=One-Click', knows), {
      kind: 'unsubscribe',
      scope: { domain: 'example.com', category: 'newsletter', recipient: 'alice@mail.test' },
    });
    assert.equal(decideUnsubscribeRequest(key, 'POST', `/u/${token}`, '', knows).kind, 'error');
    assert.equal(decideUnsubscribeRequest(key, 'PUT', `/u/${token}`, 'List-Unsubscribe=One-Click', knows).kind, 'error');
  });

  it('answers 400 to a forged token, 404 to other paths, 410 to a domain no longer served, and survives bad escapes', () => {
    const forged = buildUnsubscribeToken(randomBytes(32), scope);
    assert.deepEqual(decideUnsubscribeRequest(key, 'POST', `/u/${forged}`, 'List-Unsubscribe=One-Click', knows), { kind: 'error', status: 400, message: 'this unsubscribe link is not valid' });
    assert.equal((decideUnsubscribeRequest(key, 'GET', '/v1/messages', '', knows) as { status: number }).status, 404);
    assert.equal((decideUnsubscribeRequest(key, 'GET', `/u/${token}`, '', () => false) as { status: number }).status, 410);
    assert.equal((decideUnsubscribeRequest(key, 'GET', '/u/%E0%A4%A', '', knows) as { status: number }).status, 400);
  });
});
