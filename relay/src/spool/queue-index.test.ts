import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Flag, QueueIndex } from './queue-index.ts';
import { newQueueId } from './queue-id.ts';

const fields = (n: number) => ({ nextAt: n, createdAt: n, msgSeg: 1, msgOff: n, metaLen: 10, flags: 0, sendingDomain: n % 2 ? 'a.example' : undefined });

test('the index finds every id it holds and none it dropped, through growth, removals and slot reuse', () => {
  const index = new QueueIndex();
  const live = new Map<string, number>();
  const gone: string[] = [];
  // deterministic pseudo-random removals, so that probe runs are cut in many places
  let seed = 1;
  const random = () => (seed = (Math.imul(seed, 48271) >>> 0) % 2147483647) / 2147483647;
  for (let round = 0; round < 20_000; round++) {
    const id = round % 1000 === 0 ? `other-${round}` : newQueueId(1_700_000_000_000 + (round >> 4));
    live.set(id, index.add(id, fields(round)));
    if (random() < 0.4) {
      const victim = [...live.keys()][Math.floor(random() * live.size)]!;
      index.remove(victim);
      live.delete(victim);
      gone.push(victim);
    }
  }
  assert.equal(index.size, live.size);
  for (const [id, slot] of live) {
    assert.equal(index.slot(id), slot, id);
    assert.equal(index.id(slot), id);
    assert.ok(index.alive(slot));
  }
  for (const id of gone) assert.equal(index.slot(id), undefined, `${id} was removed`);
  assert.deepEqual(new Set([...index.entries()].map(([id]) => id)), new Set(live.keys()));
  const slot = live.values().next().value!;
  index.set(slot, Flag.Held, true);
  assert.ok(index.has(slot, Flag.Held) && index.has(slot, Flag.Alive));
});
