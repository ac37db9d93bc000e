// CI entry point: `node --import tsx test/control-plane/build.ts`.
// Builds (or confirms cached) kube-apiserver, etcd, promtool, the node binaries and pause and extracts kubectl and helm.
import { ensureBinaries, ensureNodeBinaries, ensurePromtool } from './binaries.ts';

const started = Date.now();
const binaries = { ...(await ensureBinaries()), promtool: await ensurePromtool(), ...(await ensureNodeBinaries()) };
for (const [name, path] of Object.entries(binaries)) console.log(`${name}: ${path}`);
console.log(`control-plane binaries ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
