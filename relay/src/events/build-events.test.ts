import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildAcceptedEvents,
  buildBouncedEvent,
  buildComplainedEvent,
  buildDeferredEvent,
  buildDeliveredEvent,
  buildRejectedEvents,
  buildUnsubscribedEvent,
  decideBounceType,
  eventId,
  messageFacts,
} from './build-events.ts';
import type { MessageMeta } from '../spool/types.ts';

const meta: MessageMeta = {
  id: 'Q1ABC',
  from: 'app@example.com',
  recipients: [{ address: 'a@dest.test', status: 'pending' }],
  createdAt: 0,
  size: 10,
  attempts: 0,
  nextAttemptAt: 0,
  held: false,
  sendingDomain: 'example.com',
  category: 'newsletter',
  tags: ['spring', 'promo'],
  metadata: { campaign: 'c1' },
  origin: { listener: 'submission', clientAddress: '127.0.0.1' },
  messageId: '<m1@example.com>',
};

test('every event carries the common fields, from the message metadata', () => {
  const [event] = buildAcceptedEvents(messageFacts(meta), {
    sender: meta.from,
    recipients: ['a@dest.test'],
    submitter: { kind: 'user', name: 'app1', listener: 'submission', clientAddress: '127.0.0.1' },
    size: 10,
    time: Date.UTC(2026, 11, 4, 12),
  });
  assert.deepEqual(event, {
    id: eventId('Q1ABC', 'a@dest.test', 'accepted', 0),
    type: 'accepted',
    time: '2026-12-04T12:00:00.000Z',
    messageId: '<m1@example.com>',
    queueId: 'Q1ABC',
    domain: 'example.com',
    recipient: 'a@dest.test',
    category: 'newsletter',
    tags: ['spring', 'promo'],
    metadata: { campaign: 'c1' },
    sender: 'app@example.com',
    submitter: { kind: 'user', name: 'app1', listener: 'submission', clientAddress: '127.0.0.1' },
    size: 10,
  });
});

test('ids are the same for the same state change and differ between attempts, kinds and recipients', () => {
  const facts = messageFacts(meta);
  const one = buildDeferredEvent(facts, { recipient: 'a@dest.test', attempt: 1, reply: '451 later', time: 1, nextAttemptAt: 2 });
  const again = buildDeferredEvent(facts, { recipient: 'a@dest.test', attempt: 1, reply: '451 other text', time: 5, nextAttemptAt: 9 });
  assert.equal(one.id, again.id);
  assert.notEqual(one.id, buildDeferredEvent(facts, { recipient: 'a@dest.test', attempt: 2, reply: '', time: 1, nextAttemptAt: 2 }).id);
  assert.notEqual(one.id, buildDeferredEvent(facts, { recipient: 'b@dest.test', attempt: 1, reply: '', time: 1, nextAttemptAt: 2 }).id);
  assert.notEqual(one.id, buildDeliveredEvent(facts, { recipient: 'a@dest.test', attempt: 1, reply: '250 ok', time: 1 }).id);
  assert.match(one.id, /^evt_[0-9a-f]{32}$/);
  assert.equal(one.nextAttemptAt, '1970-01-01T00:00:00.002Z');
});

test('a message without category, tags or metadata gets null and empty values, never missing fields', () => {
  const event = buildDeliveredEvent({ queueId: 'Q2' }, { recipient: 'x@y.test', attempt: 1, reply: '250 ok', time: 0 });
  assert.equal(event.category, null);
  assert.deepEqual(event.tags, []);
  assert.deepEqual(event.metadata, {});
  assert.equal(event.domain, null);
  assert.equal(event.messageId, null);
  assert.equal(event.tls, null);
  assert.equal(event.remoteHost, null);
});

test('bounces are hard for address problems and soft for the rest', () => {
  assert.equal(decideBounceType('5.1.1'), 'hard');
  assert.equal(decideBounceType('5.1.10'), 'hard');
  assert.equal(decideBounceType('5.2.1'), 'hard');
  assert.equal(decideBounceType('5.0.0'), 'hard');
  assert.equal(decideBounceType('5.2.2'), 'soft');
  assert.equal(decideBounceType('5.7.1'), 'soft');
  assert.equal(decideBounceType('5.3.4'), 'soft');
  const bounced = buildBouncedEvent(messageFacts(meta), { recipient: 'a@dest.test', attempt: 1, reply: '550 5.1.1 no such user', status: '5.1.1', dsnSent: true, source: 'delivery', time: 0 });
  assert.equal(bounced.bounceType, 'hard');
  assert.equal(bounced.diagnostic, '550 5.1.1 no such user');
  assert.equal(bounced.dsnSent, true);
});

test('a rejection before any recipient is one event with recipient null; a domain only when given', () => {
  const [event, ...rest] = buildRejectedEvents({ key: 'K', recipients: [], sender: 'x@other.test', reason: 'sender_domain', text: 'no', listener: 'submission', time: 0 });
  assert.equal(rest.length, 0);
  assert.equal(event!.recipient, null);
  assert.equal(event!.domain, null);
  assert.equal(event!.queueId, null);
  const two = buildRejectedEvents({ key: 'K', queueId: 'Q', domain: 'example.com', recipients: ['a@x.test', 'b@x.test'], sender: 's', reason: 'domain_paused', text: 't', listener: 'http', time: 0 });
  assert.deepEqual(two.map((e) => [e.recipient, e.domain, e.queueId]), [['a@x.test', 'example.com', 'Q'], ['b@x.test', 'example.com', 'Q']]);
  assert.notEqual(two[0]!.id, two[1]!.id);
});

test('complaints and unsubscribes have their own fields', () => {
  const complained = buildComplainedEvent({ queueId: 'Q', domain: 'example.com' }, { recipient: null, feedbackType: 'abuse', time: 0 });
  assert.equal(complained.feedbackType, 'abuse');
  assert.equal(complained.userAgent, null);
  const unsubscribed = buildUnsubscribedEvent({ key: '0000000000000009', domain: 'example.com', category: 'newsletter', recipient: 'a@dest.test', method: 'one-click', time: 0 });
  assert.equal(unsubscribed.type, 'unsubscribed');
  assert.equal(unsubscribed.method, 'one-click');
  assert.equal(unsubscribed.category, 'newsletter');
  assert.equal(unsubscribed.queueId, null, 'no message is named: the token does not carry one');
});
