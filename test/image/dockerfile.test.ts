import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../control-plane/paths.ts';
import { runTool } from '../control-plane/tools.ts';
import { tempDir } from '../helpers/temp-dir.ts';

// No container engine here: these check what the image build relies on, with the real compiler.
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  dependencies: Record<string, string>;
  engines: { node: string };
};

/** COPY sources taken from the build context (not from another stage). */
function contextCopies(): string[] {
  return [...dockerfile.matchAll(/^COPY (?!--from)(.+)$/gm)].flatMap((m) => {
    const parts = (m[1] as string).trim().split(/\s+/);
    return parts.slice(0, -1);
  });
}

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return jsFiles(path);
    return name.endsWith('.js') ? [path] : [];
  });
}

function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

describe('Dockerfile', () => {
  it('copies only files that exist and that .dockerignore lets through', () => {
    const copies = contextCopies();
    assert.ok(copies.includes('package-lock.json') && copies.includes('relay/src') && copies.includes('operator/src'), copies.join(' '));
    for (const source of copies) assert.ok(existsSync(join(repoRoot, source)), `COPY ${source}`);
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const source of copies) {
      assert.ok(!ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)), `${source} is not excluded from the build context`);
    }
  });

  it('puts every package.json bin on PATH, runs as a numeric non-root user and starts the operator without a shell', () => {
    const links = Object.fromEntries([...dockerfile.matchAll(/ln -s \/app\/(\S+) \/usr\/local\/bin\/(\S+)/g)].map((m) => [m[2], m[1]]));
    assert.deepEqual(links, pkg.bin);
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(dockerfile);
    assert.ok(user && Number(user[1]) > 0, 'USER is a numeric uid other than 0');
    assert.match(dockerfile, /^ENTRYPOINT \[\]$/m);
    const cmd = /^CMD \["([^"]+)"\]$/m.exec(dockerfile);
    assert.ok(cmd?.[1] && cmd[1] in pkg.bin, 'CMD runs a bin entry in exec form');
    const major = Number(/^ARG NODE_MAJOR=(\d+)$/m.exec(dockerfile)?.[1]);
    assert.ok(major >= Number(/>=(\d+)/.exec(pkg.engines.node)?.[1]), `Node ${major} satisfies engines ${pkg.engines.node}`);
    assert.match(dockerfile, /npm ci --omit=dev/);
  });

  it('builds every stage FROM the NODE_IMAGE build argument, by default the official node:<NODE_MAJOR>-slim', () => {
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:\$\{NODE_MAJOR\}-slim$/m);
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    assert.ok(froms.length >= 2, froms.join(' '));
    assert.deepEqual(new Set(froms), new Set(['${NODE_IMAGE}']));
  });

  it('builds (tsc -p tsconfig.build.json, as npm run build) into the bin paths, from relay/src and operator/src, needing production dependencies only', { timeout: 300_000 }, async () => {
    const out = await tempDir('image-build-');
    await runTool(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(out, 'dist')], { timeoutMs: 280_000 });
    for (const [name, path] of Object.entries(pkg.bin)) {
      const file = join(out, path);
      assert.ok(existsSync(file), `${name}: ${path} after the build`);
      assert.match(readFileSync(file, 'utf8'), /^#!\/usr\/bin\/env node\n/, `${name} starts with a node shebang`);
    }
    const files = jsFiles(join(out, 'dist'));
    const tops = new Set(files.map((f) => relative(join(out, 'dist'), f).split('/').slice(0, 2).join('/')));
    assert.deepEqual([...tops].sort(), ['operator/src', 'relay/src'], 'the build reads only what the Dockerfile copies');

    const builtins = new Set(builtinModules);
    const missing = new Set<string>();
    const seen = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      // static imports and re-exports at the start of a line, bare imports, dynamic import('x');
      // `from` after a space or brace, so the string 'from' in an exported list is no import
      const imports = /^\s*(?:(?:import|export)\b[^;]*?(?<=[\s}])from\s*|import\s*)(['"])([^'"\n]+)\1|\bimport\(\s*(['"])([^'"\n]+)\3\s*\)/gm;
      for (const m of text.matchAll(imports)) {
        const specifier = (m[2] ?? m[4]) as string;
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        seen.add(packageOf(specifier));
        if (!(packageOf(specifier) in pkg.dependencies)) missing.add(`${relative(out, file)}: ${specifier}`);
      }
    }
    assert.deepEqual([...missing], [], 'imports of packages that are not production dependencies');
    for (const name of ['smtp-server', 'nodemailer', 'prom-client']) assert.ok(seen.has(name), `the scan finds the import of ${name}`);
  });
});
