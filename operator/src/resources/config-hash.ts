import { createHmac } from 'node:crypto';

/**
 * The pod-template hash of everything a relay pod reads at start-up: a change rolls the pods.
 * It covers secrets (the smarthost password, API tokens, DKIM keys), and the annotation is
 * readable by anyone who may read StatefulSets or pods, so a plain digest would let them test
 * password guesses offline. An HMAC under a random key the operator keeps in the relay's auth
 * Secret reveals nothing without that key. Parts are length-prefixed, so no two different
 * lists hash alike. Pure.
 */
export function buildConfigHash(key: string, parts: readonly string[]): string {
  const hmac = createHmac('sha256', key);
  for (const part of parts) hmac.update(`${Buffer.byteLength(part)}:`).update(part);
  return hmac.digest('hex');
}

/** Shorter keys are refused and replaced: the key must not be guessable either. */
export const CONFIG_HASH_KEY_MIN_LENGTH = 32;

/**
 * relay.yaml as the config hash sees it: without what a running relay applies live from the
 * mounted file (each domain's `paused`, `reputation` thresholds and `dkim` selector and key; relay/src/config/
 * config-watcher.ts), so pausing a domain, changing its thresholds or rotating its key rolls no pod. Pure.
 */
export function buildHashedRelayConfig<T extends { domains?: readonly object[] }>(config: T): T {
  const live = (d: object) => {
    const { paused: _paused, reputation: _reputation, dkim: _dkim, ...rest } = d as Record<string, unknown>;
    return rest;
  };
  return { ...config, domains: config.domains?.map(live) } as T;
}
