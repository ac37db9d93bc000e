import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { ensureBinaries } from '../control-plane/binaries.ts';
import { repoRoot } from '../control-plane/paths.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../control-plane/test-timeouts.ts';
import { chartCrdDir, expectedFiles, staleFiles } from '../../scripts/chart/generated-files.ts';

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

describe('files the chart copies or renders from other sources', () => {
  let helm: string;

  before(async () => {
    helm = (await ensureBinaries()).helm;
  }, { timeout: SETUP_TIMEOUT_MS });

  it('match crds/ and the alert template (run `npm run chart:sync` when this fails)', { timeout: TEST_TIMEOUT_MS }, async () => {
    const expected = await expectedFiles(helm);
    const outdated = [...expected].filter(([path, content]) => readOrUndefined(path) !== content).map(([path]) => relative(repoRoot, path));
    assert.deepEqual(outdated, []);
    assert.deepEqual(staleFiles(expected).map((p) => relative(repoRoot, p)), [], `files in ${relative(repoRoot, chartCrdDir)} without a source in crds/`);
  });
});
