// `npm run cluster -- start`: runs a control plane until Ctrl-C.
// `npm run cluster -- build`: only builds or refreshes the cached binaries.
import { ensureBinaries } from './binaries.ts';
import { startControlPlane } from './control-plane.ts';

const usage = 'usage: npm run cluster -- start | build';

async function start(): Promise<void> {
  const started = Date.now();
  // Handlers go in before the path is printed: whoever reads it may signal at
  // once, and until a listener exists the kernel's default action applies.
  // `on`, not `once`: Ctrl-C under npm/tsx delivers SIGINT more than once, and
  // a repeat must not kill this process halfway through stopping.
  let onSignal: (signal: string) => void = () => {};
  const signalled = new Promise<string>((resolve) => (onSignal = resolve));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => onSignal(signal));

  const starting = startControlPlane();
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

const command = process.argv[2];
if (command === 'start') await start();
else if (command === 'build') await ensureBinaries();
else {
  console.error(usage);
  process.exitCode = 2;
}
