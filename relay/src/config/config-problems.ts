import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from './parse-config.ts';

/** For tests: every problem parseConfig lists for `input`; fails when it accepts it. */
export function configProblems(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}
