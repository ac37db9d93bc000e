import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

/** Compares `value` as YAML with testdata/<name>.golden.yaml; UPDATE_GOLDEN=1 rewrites the file instead. */
export function assertGolden(name: string, value: unknown): void {
  const file = new URL(`./testdata/${name}.golden.yaml`, import.meta.url);
  const actual = typeof value === 'string' ? value : stringify(value, { lineWidth: 0 });
  if (process.env.UPDATE_GOLDEN === '1') {
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `missing golden file ${file.pathname}; run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its golden file (UPDATE_GOLDEN=1 to accept)`);
}
