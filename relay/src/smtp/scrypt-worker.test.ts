import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { hashPassword, parsePasswordHash } from '../config/password.ts';
import { Authenticator } from './authenticator.ts';
import { ScryptWorker } from './scrypt-worker.ts';

const options = { N: 16384, r: 8, p: 1, maxmem: 64 * 2 ** 20 };

test('the scrypt worker derives the same key as node:crypto and refuses beyond its queue with ERELAY_AUTH_BUSY', async () => {
  const worker = new ScryptWorker(2);
  try {
    const salt = Buffer.from('0123456789abcdef');
    const running = worker.derive('pw0', salt, 32, options);
    const queued = [worker.derive('pw1', salt, 32, options), worker.derive('pw2', salt, 32, options)];
    await assert.rejects(worker.derive('pw3', salt, 32, options), (err: { code?: string }) => err.code === 'ERELAY_AUTH_BUSY');
    const keys = await Promise.all([running, ...queued]);
    keys.forEach((key, i) => assert.deepEqual(key, scryptSync(`pw${i}`, salt, 32, options)));
    assert.equal(worker.pending, 0);
  } finally {
    await worker.close();
  }
});

test('password checks on the scrypt worker leave the libuv threadpool to the file system', async () => {
  const users = [{ username: 'app1', passwordHash: await hashPassword('right'), allowedSenderDomains: [] }];
  assert.ok(parsePasswordHash(users[0]!.passwordHash));
  const worker = new ScryptWorker(32);
  try {
    const authenticator = new Authenticator(users, worker.derive);
    const order: string[] = [];
    // more checks than the threadpool has threads (4): on crypto.scrypt they would fill it
    const checks = Array.from({ length: 8 }, () => authenticator.verify('app1', 'wrong').then(() => order.push('check')));
    const io = stat(import.meta.dirname).then(() => order.push('fs'));
    await Promise.all([...checks, io]);
    assert.equal(order[0], 'fs', `the fs call issued after the checks finished first: ${order.join(',')}`);
  } finally {
    await worker.close();
  }
});
