// CI entry point: `node --import tsx test/control-plane/build.ts`.
// Builds (or confirms cached) kube-apiserver and etcd and extracts kubectl and helm.
import { ensureBinaries } from './binaries.ts';

const started = Date.now();
const binaries = await ensureBinaries();
for (const [name, path] of Object.entries(binaries)) console.log(`${name}: ${path}`);
console.log(`control-plane binaries ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
