import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface OciImage {
  /** full reference, e.g. localhost/mail-relay-test/pause:v1.34.4 */
  name: string;
  /** one program, copied in a single layer to the path entrypoint[0] names (in /) */
  program: string;
  entrypoint: [string, ...string[]];
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Writes a one-layer OCI image archive that `ctr images import` reads, for images with no base
 * (the pause sandbox): no registry and no builder needed.
 */
export function writeOciArchive(target: string, image: OciImage): void {
  const work = mkdtempSync(join(tmpdir(), 'oci-'));
  try {
    const rootfs = join(work, 'rootfs');
    mkdirSync(rootfs);
    const programName = image.entrypoint[0].replace(/^\/+/, '');
    if (programName.includes('/')) throw new Error(`the entrypoint must be a file in /: ${image.entrypoint[0]}`);
    copyFileSync(image.program, join(rootfs, programName));
    const layerFile = join(work, 'layer.tar');
    execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--mode=0755', '-cf', layerFile, '-C', rootfs, programName]);
    const layer = readFileSync(layerFile);
    const layerDigest = sha256(layer);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Entrypoint: image.entrypoint, User: '65535:65535' },
        rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
      }),
    );
    const configDigest = sha256(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configDigest}`, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${layerDigest}`, size: layer.length }],
      }),
    );
    const manifestDigest = sha256(manifest);
    const layout = join(work, 'layout');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, layerDigest), layer);
    writeFileSync(join(blobs, configDigest), config);
    writeFileSync(join(blobs, manifestDigest), manifest);
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const tag = image.name.slice(image.name.lastIndexOf(':') + 1);
    writeFileSync(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${manifestDigest}`,
            size: manifest.length,
            annotations: { 'io.containerd.image.name': image.name, 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    const partial = `${target}.partial`;
    execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '-cf', partial, '-C', layout, 'oci-layout', 'index.json', 'blobs']);
    renameSync(partial, target);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
