// `npm run chart:sync`: copies crds/*.yaml into the chart and renders its plain rules file.
// Needs helm in .testbin (npm run pretest puts it there).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { repoRoot } from '../../test/control-plane/paths.ts';
import { expectedFiles, staleFiles } from './generated-files.ts';

const expected = await expectedFiles();
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
