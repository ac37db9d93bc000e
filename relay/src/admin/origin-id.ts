import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readIfExists, writeDurable } from '../spool/durable-file.ts';

const ORIGIN_ID = /^[0-9a-z]{16}$/;

/**
 * The spool's identity in handoff ids (`<origin>/<queue id>`): made once, kept in the spool
 * directory, so it follows the queue (a pod's volume), not the host name, which every relay
 * process on one machine shares. A receiver refuses frames with its own origin: a drain
 * towards itself would otherwise take its own queue for duplicates and delete it.
 */
export async function loadOriginId(queueDir: string): Promise<string> {
  const path = join(queueDir, 'origin-id');
  const existing = (await readIfExists(path))?.toString('utf8').trim();
  if (existing !== undefined && ORIGIN_ID.test(existing)) return existing;
  const id = BigInt(`0x${randomBytes(10).toString('hex')}`).toString(36).padStart(16, '0').slice(-16);
  await writeDurable(path, `${id}\n`, 0o600);
  return id;
}
