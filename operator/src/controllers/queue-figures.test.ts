import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRetainedQueue, parseQueueFigures, queueFiguresChanged, sumQueueFigures } from './queue-figures.ts';

const pod = (ready: number, deferred: number, held: number, oldest: number) =>
  [
    '# HELP mailrelay_queue_messages Messages in the spool, by state (ready, deferred, held).',
    '# TYPE mailrelay_queue_messages gauge',
    `mailrelay_queue_messages{state="ready"} ${ready}`,
    `mailrelay_queue_messages{state="deferred"} ${deferred}`,
    `mailrelay_queue_messages{state="held"} ${held}`,
    `mailrelay_queue_oldest_message_age_seconds ${oldest}`,
    'mailrelay_queue_admin_actions_total{action="hold"} 4',
  ].join('\n');

test('a pod s queue figures come from its /metrics text; a text without them gives none', () => {
  assert.deepEqual(parseQueueFigures(pod(3, 2, 1, 42.7)), { ready: 3, deferred: 2, held: 1, oldestAgeSeconds: 42 });
  assert.equal(parseQueueFigures('mailrelay_domain_bounce_rate{domain="a.com"} 0.1\n'), undefined);
  assert.deepEqual(parseQueueFigures('mailrelay_queue_messages{state="bogus"} 9\nmailrelay_queue_oldest_message_age_seconds 0'), { ready: 0, deferred: 0, held: 0, oldestAgeSeconds: 0 });
});

test('figures sum over pods, the oldest age is the largest; status is rewritten when a count moves or the age by a minute', () => {
  const sum = sumQueueFigures(parseQueueFigures(pod(3, 2, 1, 42))!, parseQueueFigures(pod(1, 0, 5, 600))!);
  assert.deepEqual(sum, { ready: 4, deferred: 2, held: 6, oldestAgeSeconds: 600 });
  assert.equal(queueFiguresChanged(sum, { ...sum, oldestAgeSeconds: 630 }), false);
  assert.equal(queueFiguresChanged(sum, { ...sum, oldestAgeSeconds: 661 }), true);
  assert.equal(queueFiguresChanged(sum, { ...sum, held: 5 }), true);
  assert.equal(queueFiguresChanged(undefined, sum), true);
  const empty = { ready: 0, deferred: 0, held: 0, oldestAgeSeconds: 0 };
  assert.equal(queueFiguresChanged(empty, { ...empty, ready: 0, oldestAgeSeconds: 1 }), true);
});

test('a relay deleted with mail queued gets a warning naming the count and the kept claims; an empty or unknown queue none', () => {
  assert.match(describeRetainedQueue('mr', { ready: 1, deferred: 2, held: 3, oldestAgeSeconds: 9 })!, /mr deleted with 6 messages queued .*spool-mr-N are kept/);
  assert.equal(describeRetainedQueue('mr', { ready: 0, deferred: 0, held: 0, oldestAgeSeconds: 0 }), undefined);
  assert.equal(describeRetainedQueue('mr', undefined), undefined);
});
