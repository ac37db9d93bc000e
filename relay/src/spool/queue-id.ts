import { randomBytes } from 'node:crypto';

/**
 * Queue ids sort by creation time, are unique across restarts and replicas (random suffix) and
 * are safe as file names and in SMTP replies: 9 chars of time, 3 of a counter, 4 random, base 36.
 */
let counter = 0;
let pool = Buffer.alloc(0);
let poolOffset = 0;

export function newQueueId(now = Date.now()): string {
  if (poolOffset + 3 > pool.length) {
    pool = randomBytes(3 * 1024);
    poolOffset = 0;
  }
  const random = pool.readUIntBE(poolOffset, 3) % 36 ** 4;
  poolOffset += 3;
  counter = (counter + 1) % 36 ** 3;
  return (
    now.toString(36).padStart(9, '0') + counter.toString(36).padStart(3, '0') + random.toString(36).padStart(4, '0')
  ).toUpperCase();
}
