// `npm run cluster -- start [--node]`: runs a control plane (with --node: and one real node) until Ctrl-C.
// `npm run cluster -- build`: only builds or refreshes the cached binaries.
import { ensureBinaries } from './binaries.ts';
import { startControlPlane } from './control-plane.ts';

const usage = 'usage: npm run cluster -- start [--node] | build';

async function start(node: boolean): Promise<void> {
  const started = Date.now();
  // Handlers go in before the path is printed: whoever reads it may signal at
  // once, and until a listener exists the kernel's default action applies.
  // `on`, not `once`: Ctrl-C under npm/tsx delivers SIGINT more than once, and
  // a repeat must not kill this process halfway through stopping.
  let onSignal: (signal: string) => void = () => {};
  const signalled = new Promise<string>((resolve) => (onSignal = resolve));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => onSignal(signal));

  const starting = startControlPlane({ node });
  const first = await Promise.race([starting, signalled]);
  if (typeof first === 'string') {
    console.error(`[control-plane] ${first} while starting; stopping`);
    await (await starting.catch(() => undefined))?.stop();
    process.exitCode = 130;
    return;
  }
  const controlPlane = first;
  // stdout carries only the path, so scripts can capture it.
  console.log(controlPlane.kubeconfigPath);
  console.error(
    `[control-plane] ${controlPlane.server} ready in ${((Date.now() - started) / 1000).toFixed(1)}s\n` +
      `[control-plane]   export KUBECONFIG=${controlPlane.kubeconfigPath}\n` +
      `[control-plane]   kubectl: ${controlPlane.binaries.kubectl}  helm: ${controlPlane.binaries.helm}\n` +
      (controlPlane.node
        ? `[control-plane]   node ${controlPlane.node.name} at ${controlPlane.node.ip}; pods ${controlPlane.node.podCidr}, Services ${controlPlane.node.serviceCidr}, ` +
          `StorageClass ${controlPlane.node.storageClass} (local PVs); \`npm run image\` builds and imports the project image\n`
        : '') +
      `[control-plane] logs in ${controlPlane.dir}; Ctrl-C stops everything`,
  );
  // Signal listeners and the (deliberately unref'd) servers do not keep Node running.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const reason = await Promise.race([signalled, controlPlane.exited.then((how) => `unexpected exit: ${how}`)]);
  clearInterval(keepAlive);
  console.error(`[control-plane] stopping (${reason})`);
  await controlPlane.stop();
  process.exitCode = reason.startsWith('unexpected') ? 1 : 0;
}

const [command, ...flags] = process.argv.slice(2);
const unknown = flags.filter((flag) => flag !== '--node');
if (command === 'start' && unknown.length === 0) await start(flags.includes('--node'));
else if (command === 'build' && flags.length === 0) await ensureBinaries();
else {
  console.error(usage);
  process.exitCode = 2;
}
