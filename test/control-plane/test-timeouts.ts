/** Per test: generous for a loaded 2-core machine, short enough to fail a hang. */
export const TEST_TIMEOUT_MS = 120_000;

/**
 * For hooks that may have to build kube-apiserver and etcd from source first
 * (CI builds them beforehand; a fresh checkout running `npm test` does not).
 */
export const SETUP_TIMEOUT_MS = 30 * 60_000;
