import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ControlPlane } from '../control-plane/control-plane.ts';
import { preferredPort } from '../control-plane/ports.ts';

export interface ForwardedPod {
  readonly name: string;
  /** port name → port on 127.0.0.1 */
  readonly ports: Map<string, number>;
  ready: boolean;
}

interface PodJson {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { containers: Array<{ ports?: Array<{ name?: string; containerPort: number }> }> };
  status: { conditions?: Array<{ type: string; status: string }> };
}

/**
 * Keeps `kubectl port-forward` to the Ready pod a label selector picks, on fixed ports of
 * 127.0.0.1 (chosen once, the last run's when free, so the printed addresses stay true): port-forward exits whenever the
 * pod's process restarts or the pod is replaced, and is started again for the pod that is
 * Ready then. Polls once a second; bounded by stop().
 */
export class PodForward {
  readonly #cp: ControlPlane;
  readonly #namespace: string;
  readonly #selector: string;
  #child: ChildProcess | undefined;
  #pod: ForwardedPod | undefined;
  #localPorts = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #busy = false;

  readonly #preferred: ReadonlyMap<string, number>;

  /** `preferred`: port name → the local port to try first (the last run's). */
  constructor(cp: ControlPlane, namespace: string, selector: string, preferred: ReadonlyMap<string, number> = new Map()) {
    this.#cp = cp;
    this.#preferred = preferred;
    this.#namespace = namespace;
    this.#selector = selector;
  }

  /** The pod being forwarded to, once its forward is up. */
  get pod(): ForwardedPod | undefined {
    return this.#pod?.ready ? this.#pod : undefined;
  }

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), 1000);
    void this.#tick();
  }

  async #tick(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) return;
      this.#pod = undefined;
      const list = JSON.parse(await this.#cp.kubectl(['get', 'pods', '-n', this.#namespace, '-l', this.#selector, '-o', 'json'])) as { items: PodJson[] };
      const ready = list.items.find((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      if (!ready || this.#stopped) return;
      const mappings: string[] = [];
      const ports = new Map<string, number>();
      for (const port of ready.spec.containers[0]?.ports ?? []) {
        const name = port.name ?? String(port.containerPort);
        let local = this.#localPorts.get(name);
        if (local === undefined) {
          local = await preferredPort(this.#preferred.get(name));
          this.#localPorts.set(name, local);
        }
        ports.set(name, local);
        mappings.push(`${local}:${port.containerPort}`);
      }
      const child = spawn(this.#cp.binaries.kubectl, ['port-forward', '--address', '127.0.0.1', '-n', this.#namespace, `pod/${ready.metadata.name}`, ...mappings], {
        env: { ...process.env, KUBECONFIG: this.#cp.kubeconfigPath },
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      this.#child = child;
      const pod: ForwardedPod = { name: ready.metadata.name, ports, ready: false };
      this.#pod = pod;
      let forwarding = 0;
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (/^Forwarding from/.test(line) && ++forwarding >= mappings.length) pod.ready = true;
      });
      child.once('exit', () => {
        pod.ready = false;
      });
    } catch {
      // the API server may be restarting or the pod going away: the next tick tries again
    } finally {
      this.#busy = false;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}
