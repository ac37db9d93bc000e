import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ADDRESS_FIELD, decideHeaderSenders } from './decide-header-senders.ts';
import type { Submitter } from './envelope.ts';

const domains = ['example.test', 'other.test', 'mail.shared.test', 'shared.test'];
const alice: Submitter = { kind: 'user', name: 'alice', allowedSenderDomains: ['example.test'] };
const anyDomain: Submitter = { kind: 'token', name: 'app', allowedSenderDomains: [] };
const trusted: Submitter = { kind: 'trusted' };

const from = (...values: string[]) => ({ from: values, sender: [], resent: [] });

function reason(v: ReturnType<typeof decideHeaderSenders>): string {
  return v.ok ? 'ok' : v.refusal.reason;
}

test('refuses a From: of a domain the user may not send as, and signs only for its own domain', () => {
  assert.deepEqual(decideHeaderSenders(from('ceo@other.test'), alice, domains), {
    ok: false,
    refusal: { reason: 'header_sender_domain', text: 'From: domain other.test is not one this sender may use' },
  });
  assert.deepEqual(decideHeaderSenders(from('"Alice" <alice@Example.TEST>'), alice, domains), { ok: true, headerFromDomain: 'example.test', signingDomain: 'example.test' });
  assert.deepEqual(decideHeaderSenders(from('a@news.example.test'), alice, domains), { ok: true, headerFromDomain: 'news.example.test', signingDomain: 'example.test' }, 'a subdomain is signed with its parent');
});

test('every address of the From: and Sender: fields is checked, however it is written', () => {
  for (const value of [
    'alice@example.test, ceo@other.test',
    'Group: alice@example.test, ceo@other.test;',
    '<alice@example.test> <ceo@other.test>',
    'alice@example.test\t<ceo@other.test>',
    '"alice@example.test"@other.test',
  ]) {
    assert.equal(reason(decideHeaderSenders(from(value), alice, domains)), 'header_sender_domain', value);
  }
  assert.equal(reason(decideHeaderSenders({ from: ['alice@example.test'], sender: ['ceo@other.test'], resent: [] }, alice, domains)), 'header_sender_domain');
  assert.equal(reason(decideHeaderSenders({ from: ['alice@example.test'], sender: ['bob@example.test'], resent: [] }, alice, domains)), 'ok');
});

test('a message with no From:, several From: fields, or an unreadable one is refused', () => {
  assert.deepEqual(decideHeaderSenders(from(), alice, domains), { ok: false, refusal: { reason: 'invalid_header_from', text: 'Message has no From: header' } });
  assert.deepEqual(decideHeaderSenders(from('alice@example.test', 'ceo@other.test'), alice, domains), {
    ok: false,
    refusal: { reason: 'invalid_header_from', text: 'Message has 2 From: headers; exactly one is allowed' },
  });
  assert.equal(reason(decideHeaderSenders(from('alice@example.test', 'alice@example.test'), alice, domains)), 'invalid_header_from', 'two From: fields even of one domain');
  assert.equal(reason(decideHeaderSenders({ from: ['alice@example.test'], sender: ['a@example.test', 'b@example.test'], resent: [] }, alice, domains)), 'invalid_header_from');
  for (const value of ['', 'garbage', 'undisclosed:;', 'a@example.test>ceo@other.test', 'alice@', `alice@example.test (${'x'.repeat(MAX_ADDRESS_FIELD)})`]) {
    assert.equal(reason(decideHeaderSenders(from(value), alice, domains)), 'invalid_header_from', value.slice(0, 40));
  }
});

test('an empty allowance or a trusted client may use every configured domain, and no other', () => {
  assert.deepEqual(decideHeaderSenders(from('x@other.test'), anyDomain, domains), { ok: true, headerFromDomain: 'other.test', signingDomain: 'other.test' });
  assert.deepEqual(decideHeaderSenders(from('x@mail.shared.test'), trusted, domains), { ok: true, headerFromDomain: 'mail.shared.test', signingDomain: 'mail.shared.test' });
  assert.equal(reason(decideHeaderSenders(from('x@elsewhere.test'), trusted, domains)), 'header_sender_domain');
  assert.equal(reason(decideHeaderSenders(from('x@elsewhere.test'), anyDomain, domains)), 'header_sender_domain');
});

test('a user allowed only a subdomain is not signed with the parent domain of another tenant', () => {
  const sub: Submitter = { kind: 'user', name: 'bob', allowedSenderDomains: ['team.shared.test'] };
  assert.deepEqual(decideHeaderSenders(from('bob@team.shared.test'), sub, domains), { ok: true, headerFromDomain: 'team.shared.test', signingDomain: undefined });
  assert.equal(reason(decideHeaderSenders(from('ceo@shared.test'), sub, domains)), 'header_sender_domain');
});

test('without configured domains or an allowance there is no From: policy, as before', () => {
  assert.deepEqual(decideHeaderSenders(from('anyone@anywhere.test'), trusted, []), { ok: true, headerFromDomain: 'anywhere.test', signingDomain: undefined });
  assert.deepEqual(decideHeaderSenders(from(), trusted, []), { ok: true, headerFromDomain: undefined, signingDomain: undefined });
  assert.equal(reason(decideHeaderSenders(from('x@other.test'), alice, [])), 'header_sender_domain', "a user's allowance applies without configured domains");
});

test('every Resent-From: and Resent-Sender: address must be in the scope too, and an unreadable one is refused', () => {
  const withResent = (...resent: Array<['resent-from' | 'resent-sender', string]>) => ({
    from: ['alice@example.test'],
    sender: [],
    resent: resent.map(([name, value]) => ({ name, value })),
  });
  assert.deepEqual(decideHeaderSenders(withResent(['resent-from', 'alice@example.test'], ['resent-from', 'ceo@other.test']), alice, domains), {
    ok: false,
    refusal: { reason: 'header_sender_domain', text: 'Resent-From: domain other.test is not one this sender may use' },
  });
  assert.equal(reason(decideHeaderSenders(withResent(['resent-sender', '"Boss" <ceo@other.test>']), alice, domains)), 'header_sender_domain');
  assert.equal(reason(decideHeaderSenders(withResent(['resent-from', 'garbage']), alice, domains)), 'invalid_header_from');
  assert.deepEqual(decideHeaderSenders(withResent(['resent-from', 'a@news.example.test'], ['resent-sender', 'b@example.test']), alice, domains), {
    ok: true,
    headerFromDomain: 'example.test',
    signingDomain: 'example.test',
  }, 'several resent blocks of the own domain are fine, and do not change the signing domain');
});
