import { join } from 'node:path';
import { acquireDirLock } from './lock.ts';
import { testbinDir } from './paths.ts';

/**
 * Test files that start a node hold this for their whole run: the host lock already keeps two
 * nodes apart, but a test asserting that the host is clean before and after its node must not
 * see another file's node in between. In .testbin, so a killed test leaves nothing on the host.
 */
export function holdNodeTestLock(): Promise<() => void> {
  return acquireDirLock(join(testbinDir, '.node-tests-lock'), 60 * 60_000);
}
