import { Worker } from 'node:worker_threads';
import type { ScryptOptions } from 'node:crypto';
import { RelayError } from '../errors.ts';

/**
 * scrypt for AUTH, off the libuv threadpool. `crypto.scrypt` runs on that pool, which the
 * spool's reads, writes and fsyncs share: parallel password guesses (~50 ms each) queued in
 * front of every fsync and normal submissions took seconds. Here one worker thread runs
 * `scryptSync`, so at most one hash runs at a time relay-wide, and the pool stays free for the
 * file system. Waiting requests are bounded; beyond `maxQueued` a request fails at once with
 * ERELAY_AUTH_BUSY (answered 454 4.7.0, temporary) rather than queueing without end.
 */

// Plain JavaScript evaluated in the worker, so it needs no loader for TypeScript.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { scryptSync } = require('node:crypto');
parentPort.on('message', ({ id, password, salt, keylen, options }) => {
  try {
    const key = scryptSync(password, Buffer.from(salt), keylen, options);
    parentPort.postMessage({ id, key });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message) });
  }
});
`;

interface Job {
  readonly id: number;
  readonly password: string;
  readonly salt: Buffer;
  readonly keylen: number;
  readonly options: ScryptOptions;
  readonly resolve: (key: Buffer) => void;
  readonly reject: (err: Error) => void;
}

export class ScryptWorker {
  private worker: Worker | undefined;
  private readonly waiting: Job[] = [];
  private running: Job | undefined;
  private nextId = 0;

  constructor(private readonly maxQueued = 16) {}

  /** A `DeriveKey` for verifyPassword. */
  readonly derive = (password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> => {
    if (this.waiting.length >= this.maxQueued) {
      return Promise.reject(new RelayError('ERELAY_AUTH_BUSY', `${this.waiting.length} password checks are already waiting`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, password, salt, keylen, options, resolve, reject });
      this.pump();
    });
  };

  /** Checks waiting or running (for tests of the bound). */
  get pending(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    const stopping = new RelayError('ERELAY_AUTH_BUSY', 'the relay is stopping');
    for (const job of this.waiting.splice(0)) job.reject(stopping);
    this.running?.reject(stopping);
    this.running = undefined;
    await worker?.terminate();
  }

  private pump(): void {
    if (this.running) return;
    const job = this.waiting.shift();
    if (!job) return;
    this.running = job;
    this.ensureWorker().postMessage({ id: job.id, password: job.password, salt: job.salt, keylen: job.keylen, options: job.options });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    // an idle relay should not be kept alive by its hashing thread
    worker.unref();
    worker.on('message', (message: { id: number; key?: Uint8Array; error?: string }) => {
      const job = this.running;
      if (!job || job.id !== message.id) return;
      this.running = undefined;
      if (message.key) job.resolve(Buffer.from(message.key));
      else job.reject(new Error(`scrypt failed: ${message.error ?? 'unknown error'}`));
      this.pump();
    });
    worker.on('error', (err) => this.fail(worker, err));
    worker.on('exit', (code) => this.fail(worker, new Error(`scrypt worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  /** A dead worker fails the check it was running; the next check starts a new one. */
  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const job = this.running;
    this.running = undefined;
    job?.reject(err);
    if (this.waiting.length > 0) this.pump();
  }
}
