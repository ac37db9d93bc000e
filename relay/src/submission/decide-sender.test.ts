import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideSender } from './decide-sender.ts';

const trusted = { kind: 'trusted' } as const;
const user = { kind: 'user', name: 'alice', allowedSenderDomains: ['example.com'] } as const;

test('MAIL FROM must belong to a sending domain and to the user allowance', () => {
  const domains = ['example.com', 'other.org'];
  assert.deepEqual(decideSender('a@Example.COM', trusted, domains), { ok: true, sendingDomain: 'example.com' });
  assert.deepEqual(decideSender('anything@anywhere.test', trusted, []), { ok: true, sendingDomain: undefined }, 'no domains configured: any sender');
  assert.deepEqual(decideSender('a@other.org', user, domains), { ok: false, refusal: { reason: 'sender_domain', text: 'User may not send as other.org' } });
  assert.deepEqual(decideSender('', trusted, domains), { ok: false, refusal: { reason: 'sender_domain', text: 'Sender address must belong to a configured sending domain' } });
  assert.equal(decideSender('a@x.test', user, []).ok, false, 'a user allowance applies even without configured domains');
  assert.deepEqual(decideSender('a@example.com', user, []), { ok: true, sendingDomain: undefined });
  assert.deepEqual(decideSender('a@elsewhere.test', trusted, domains), { ok: false, refusal: { reason: 'sender_domain', text: 'Sender domain elsewhere.test is not a sending domain of this relay' } });
  assert.deepEqual(decideSender('a@x.test', { kind: 'token', name: 't', allowedSenderDomains: ['example.com'] }, []), { ok: false, refusal: { reason: 'sender_domain', text: 'Token may not send as x.test' } });
});
