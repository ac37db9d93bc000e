import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue } from './work-queue.ts';
import type { Timers } from './work-queue.ts';

/** A manual clock: timers fire only when the test advances time. */
class ManualTimers implements Timers {
  #now = 0;
  #next = 0;
  readonly pending = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.pending.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  advance(ms: number): void {
    this.#now += ms;
    for (const [id, t] of [...this.pending].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at > this.#now) continue;
      this.pending.delete(id);
      t.fn();
    }
  }
}

/** Lets queued microtasks and immediates (worker hand-offs) run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('deduplicates keys that wait', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.length, 2);
    const seen: string[] = [];
    const running = q.run(1, async (key) => {
      seen.push(key);
    });
    await settle();
    await q.shutdown();
    await running;
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('never gives one key to two workers, and reruns a key added while it was processing', async () => {
    const q = new WorkQueue();
    const gates: ReturnType<typeof deferred>[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const seen: string[] = [];
    const running = q.run(4, async (key) => {
      seen.push(key);
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      concurrent--;
    });
    q.add('k');
    await settle();
    assert.equal(seen.length, 1);
    q.add('k');
    q.add('k');
    await settle();
    assert.equal(seen.length, 1, 'the second add waits for the first run to end');
    gates[0]!.resolve();
    await settle();
    assert.equal(seen.length, 2, 'the adds during processing cause exactly one more run');
    gates[1]!.resolve();
    await settle();
    assert.equal(seen.length, 2);
    assert.equal(maxConcurrent, 1);
    await q.shutdown();
    await running;
  });

  it('runs different keys in parallel up to the worker count', async () => {
    const q = new WorkQueue();
    const gate = deferred();
    let concurrent = 0;
    let maxConcurrent = 0;
    const running = q.run(2, async () => {
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      await gate.promise;
      concurrent--;
    });
    for (const k of ['a', 'b', 'c']) q.add(k);
    await settle();
    assert.equal(concurrent, 2);
    gate.resolve();
    await settle();
    await q.shutdown();
    await running;
    assert.equal(maxConcurrent, 2);
  });

  it('backs off per key, doubling from the base delay to the cap, until forget()', () => {
    const timers = new ManualTimers();
    const q = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 1000, timers });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      q.addRateLimited('k');
      const [timer] = [...timers.pending.values()];
      assert.ok(timer);
      delays.push(timer.at - timers.now());
      timers.advance(timer.at - timers.now());
    }
    assert.deepEqual(delays, [200, 400, 800, 1000, 1000]);
    assert.equal(q.length, 1);
    assert.equal(q.numRequeues('k'), 5);
    assert.equal(q.numRequeues('other'), 0);
    q.forget('k');
    assert.equal(q.numRequeues('k'), 0);
    assert.equal(q.backoffMs(0), 200);
    assert.equal(new WorkQueue().backoffMs(100), 5 * 60_000);
  });

  it('starts the backoff of a key afresh after a successful run', async () => {
    const timers = new ManualTimers();
    const q = new WorkQueue({ baseDelayMs: 200, timers });
    let fail = true;
    const running = q.run(1, async () => {
      if (fail) throw new Error('once');
    });
    q.add('k');
    await settle();
    assert.equal(q.numRequeues('k'), 1);
    fail = false;
    timers.advance(200);
    await settle();
    assert.equal(q.numRequeues('k'), 0);
    await q.shutdown();
    await running;
  });

  it('adds a delayed key when its time comes, keeping the earliest of several delays', async () => {
    const timers = new ManualTimers();
    const q = new WorkQueue({ timers });
    q.addAfter('k', 1000);
    q.addAfter('k', 300);
    q.addAfter('k', 5000);
    assert.equal(timers.pending.size, 1);
    timers.advance(299);
    assert.equal(q.length, 0);
    timers.advance(1);
    assert.equal(q.length, 1);
    timers.advance(10_000);
    assert.equal(q.length, 1);
    await q.shutdown();
  });

  it('retries a key whose handler throws, with backoff, and reports the error', async () => {
    const timers = new ManualTimers();
    const errors: string[] = [];
    const q = new WorkQueue({ baseDelayMs: 100, timers, onError: (key, err) => errors.push(`${key}: ${(err as Error).message}`) });
    let calls = 0;
    const running = q.run(1, async () => {
      calls++;
      if (calls === 1) throw new Error('boom');
    });
    q.add('k');
    await settle();
    assert.equal(calls, 1);
    assert.deepEqual(errors, ['k: boom']);
    timers.advance(99);
    await settle();
    assert.equal(calls, 1);
    timers.advance(1);
    await settle();
    assert.equal(calls, 2);
    await q.shutdown();
    await running;
  });

  it('shutdown waits for in-flight handlers, drops waiting keys and clears timers', async () => {
    const timers = new ManualTimers();
    const q = new WorkQueue({ timers });
    const gate = deferred();
    let finished = false;
    const seen: string[] = [];
    const running = q.run(1, async (key) => {
      seen.push(key);
      await gate.promise;
      finished = true;
    });
    q.add('a');
    q.add('b');
    q.addAfter('c', 50);
    await settle();
    let shutDown = false;
    const stopping = q.shutdown().then(() => (shutDown = true));
    await settle();
    assert.equal(shutDown, false, 'shutdown waits for the running handler');
    assert.equal(timers.pending.size, 0);
    gate.resolve();
    await stopping;
    await running;
    assert.equal(finished, true);
    assert.deepEqual(seen, ['a']);
    q.add('d');
    assert.equal(q.length, 0, 'adds after shutdown are ignored');
  });
});
