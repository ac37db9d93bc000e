import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DestinationQueue } from './destination-queue.ts';
import { DestinationQueues } from './destination-queues.ts';
import { ConnectionBudget } from './limits.ts';
import type { OutboundTarget } from './outbound-connection.ts';

// nothing listens on port 1 of loopback: a connection attempt is refused at once
const target: OutboundTarget = { hosts: ['127.0.0.1'], port: 1, tls: 'none', verify: false, name: 'relay.test', connectTimeout: 2000, commandTimeout: 2000 };

function queueFor(key: string, budget: ConnectionBudget, now: () => number): DestinationQueue {
  return new DestinationQueue(key, target, 2, 0, budget, async (host) => [host], () => undefined, 30_000, now);
}

test('queues of destinations unused for 5 minutes are forgotten as new ones come, so the map stays bounded however many domains mail names', () => {
  let now = 0;
  const budget = new ConnectionBudget(10);
  const queues = new DestinationQueues(100);
  for (let i = 0; i < 5_000; i++) {
    queues.add(queueFor(`mx:d${i}.example.net`, budget, () => now));
    now += 1_000; // one new destination a second
  }
  // the last 5 minutes' 300 are kept; older ones go at the next sweep (it runs when the map doubles)
  assert.ok(queues.size <= 2 * 300 + 1, `queues kept: ${queues.size}`);
  assert.ok(queues.get('mx:d4999.example.net'), 'a recent destination is kept');
  assert.equal(queues.get('mx:d0.example.net'), undefined, 'one unused for over an hour is gone');
});

test('a queue asked for in the last 5 minutes is kept; it is unused only when idle, past its dead-destination mark and 5 minutes without use', async () => {
  let now = 0;
  const budget = new ConnectionBudget(10);
  const queues = new DestinationQueues(10);
  const dead = queueFor('mx:dead.example.net', budget, () => now);
  queues.add(dead);
  const done = new Promise<void>((resolve) => dead.push({ from: 'a@example.com', recipients: ['r@dead.example.net'], body: async () => Buffer.from('x'), done: () => resolve() }));
  await done; // the refused connection marked the destination dead for 30 s
  now += 5 * 60_000 - 1;
  for (let i = 0; i < 50; i++) queues.add(queueFor(`mx:d${i}.example.net`, budget, () => now));
  assert.equal(queues.get('mx:dead.example.net'), dead, 'asked for less than 5 minutes ago');
  assert.equal(dead.unused, false);
  now += 1;
  assert.equal(dead.unused, true, 'idle, its dead mark over, and not asked for in 5 minutes');
});
