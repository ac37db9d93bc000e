import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import type { KubeConfig, KubernetesObject, V1ConfigMap, V1Secret, V1StatefulSet, V1Volume } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { Informer } from '../../operator/src/kube/informer.ts';
import { RestClient, resourcePath } from '../../operator/src/kube/rest-client.ts';
import { MANAGED_SELECTOR } from '../../operator/src/resources/labels.ts';
import { freePort } from '../control-plane/ports.ts';

export interface LocalPod {
  readonly namespace: string;
  readonly name: string;
  readonly relay: string;
  readonly dir: string;
  /** Listener name (and `http`, `metrics`) → port on 127.0.0.1. */
  readonly ports: Map<string, number>;
  hash: string;
  child?: ChildProcess;
  ready: boolean;
}

export interface PodRunnerOptions {
  readonly namespaces: 'all' | string[];
  readonly dataDir: string;
  /** DNS server (ip:port) the relays resolve MX hosts with. */
  readonly resolver: string;
  /** Port every MX host listens on: the catch-all sink. */
  readonly mxPort: number;
  readonly log: (line: string) => void;
  readonly relayMain: string;
}

/**
 * A kubelet for the relay StatefulSets the operator declares: each pod runs as a local
 * `mail-relay` process whose ConfigMap and Secret volumes are written to a folder, with its
 * ports moved to free ports on 127.0.0.1. A changed pod template or volume content restarts the
 * pod (as a rollout would), and the StatefulSet's status is reported back like the real
 * controller does, so MailRelay status shows Ready.
 */
export class PodRunner {
  readonly pods = new Map<string, LocalPod>();
  readonly #sets: Informer<V1StatefulSet>;
  readonly #configMaps: Informer<V1ConfigMap>;
  readonly #secrets: Informer<V1Secret>;
  readonly #rest: RestClient;
  readonly #opts: PodRunnerOptions;
  #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(kc: KubeConfig, opts: PodRunnerOptions) {
    this.#opts = opts;
    const informer = <T extends KubernetesObject>(apiVersion: string, kind: string, plural: string, labelSelector?: string) =>
      new Informer<T>(kc, { apiVersion, kind, plural, namespaces: opts.namespaces, labelSelector, resyncMs: 0 });
    this.#sets = informer('apps/v1', 'StatefulSet', 'statefulsets', MANAGED_SELECTOR);
    this.#configMaps = informer('v1', 'ConfigMap', 'configmaps', MANAGED_SELECTOR);
    this.#secrets = informer('v1', 'Secret', 'secrets');
    this.#rest = new RestClient(kc);
    const all = () => this.#schedule(this.#sets.list().map((s) => `${s.metadata!.namespace}/${s.metadata!.name}`));
    for (const i of [this.#configMaps, this.#secrets] as Informer<KubernetesObject>[]) i.on('add', all).on('update', all).on('delete', all);
    const one = (s: V1StatefulSet) => this.#schedule([`${s.metadata!.namespace}/${s.metadata!.name}`]);
    this.#sets.on('add', one).on('update', one).on('delete', one);
  }

  async start(): Promise<void> {
    for (const i of [this.#sets, this.#configMaps, this.#secrets] as Informer<KubernetesObject>[]) i.start();
    await Promise.all([this.#sets.waitForSync(), this.#configMaps.waitForSync(), this.#secrets.waitForSync()]);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#chain;
    await Promise.all([...this.pods.values()].map((p) => this.#stopPod(p)));
    await Promise.all([this.#sets.stop(), this.#configMaps.stop(), this.#secrets.stop()]);
  }

  /** Batches bursts of events (a reconcile touches several objects) into one sync. */
  #schedule(keys: string[]): void {
    for (const k of keys) this.#pending.add(k);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const batch = [...this.#pending];
      this.#pending.clear();
      this.#chain = this.#chain.then(async () => {
        for (const key of batch) if (!this.#stopped) await this.#sync(key).catch((err: Error) => this.#opts.log(`pod runner: ${key}: ${err.message}`));
      });
    }, 200);
  }

  async #sync(key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const set = this.#sets.get(namespace, name);
    const want = set?.spec?.replicas ?? 0;
    for (const pod of [...this.pods.values()].filter((p) => p.namespace === namespace && p.relay === name)) {
      if (Number(pod.name.slice(name.length + 1)) >= want) {
        await this.#stopPod(pod);
        this.pods.delete(`${namespace}/${pod.name}`);
      }
    }
    if (!set) return;
    const files = this.#materialise(set);
    if (!files) {
      this.#opts.log(`pod runner: ${key}: waiting for its ConfigMap and Secrets`);
      return;
    }
    const hash = createHash('sha256').update(JSON.stringify(set.spec!.template)).update(JSON.stringify([...files.entries()])).digest('hex');
    for (let i = 0; i < want; i++) {
      const podName = `${name}-${i}`;
      let pod = this.pods.get(`${namespace}/${podName}`);
      if (pod?.hash === hash && pod.child) continue;
      if (pod) await this.#stopPod(pod);
      pod ??= { namespace, name: podName, relay: name, dir: join(this.#opts.dataDir, namespace, podName), ports: new Map(), hash, ready: false };
      pod.hash = hash;
      this.pods.set(`${namespace}/${podName}`, pod);
      await this.#startPod(pod, files);
    }
    await this.#reportStatus(set, hash);
  }

  /** Mount path → file contents for every ConfigMap/Secret volume; undefined while one is missing. */
  #materialise(set: V1StatefulSet): Map<string, string> | undefined {
    const ns = set.metadata!.namespace!;
    const podSpec = set.spec!.template.spec!;
    const mounts = podSpec.containers[0]!.volumeMounts ?? [];
    const files = new Map<string, string>();
    const source = (kind: 'configMap' | 'secret', name: string): Record<string, string> | undefined => {
      if (kind === 'configMap') return this.#configMaps.get(ns, name)?.data;
      const data = this.#secrets.get(ns, name)?.data;
      return data && Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    };
    const add = (mountPath: string, kind: 'configMap' | 'secret', name: string, items?: { key: string; path: string }[]): boolean => {
      const data = source(kind, name);
      if (!data) return false;
      for (const item of items ?? Object.keys(data).map((k) => ({ key: k, path: k }))) {
        if (data[item.key] === undefined) return false;
        files.set(join(mountPath, item.path), data[item.key]!);
      }
      return true;
    };
    for (const mount of mounts) {
      const volume: V1Volume | undefined = podSpec.volumes?.find((v) => v.name === mount.name);
      if (!volume) continue; // the spool claim: a plain folder here
      let ok = true;
      if (volume.configMap) ok = add(mount.mountPath, 'configMap', volume.configMap.name!, volume.configMap.items);
      if (volume.secret) ok = add(mount.mountPath, 'secret', volume.secret.secretName!, volume.secret.items);
      for (const s of volume.projected?.sources ?? []) {
        if (s.secret) ok &&= add(mount.mountPath, 'secret', s.secret.name!, s.secret.items);
        if (s.configMap) ok &&= add(mount.mountPath, 'configMap', s.configMap.name!, s.configMap.items);
      }
      if (!ok) return undefined;
    }
    return files;
  }

  async #startPod(pod: LocalPod, files: Map<string, string>): Promise<void> {
    const set = this.#sets.get(pod.namespace, pod.relay)!;
    const container = set.spec!.template.spec!.containers[0]!;
    const root = join(pod.dir, 'root');
    rmSync(join(root, 'etc'), { recursive: true, force: true });
    for (const [path, content] of files) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), content, { mode: 0o600 });
    }
    const configArg = container.args![container.args!.indexOf('--config') + 1]!;
    const config = parse(files.get(configArg)!) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const local = (path: string) => join(root, path);
    const port = async (key: string) => {
      if (!pod.ports.has(key)) pod.ports.set(key, await freePort());
      return pod.ports.get(key)!;
    };
    for (const l of config.listeners) Object.assign(l, { address: '127.0.0.1', port: await port(l.name) });
    config.metrics = { address: '127.0.0.1', port: await port('metrics') };
    if (config.http) Object.assign(config.http, { address: '127.0.0.1', port: await port('http') });
    config.queue.dir = local(config.queue.dir);
    // The disk under .data is whatever the laptop has; the pod default would refuse mail on a small one.
    config.queue.minFreeSpace = 0;
    if (config.tls) config.tls = { ...config.tls, certFile: local(config.tls.certFile), keyFile: local(config.tls.keyFile) };
    if (config.usersFile) config.usersFile = local(config.usersFile);
    if (config.http?.tokensFile) config.http.tokensFile = local(config.http.tokensFile);
    if (config.delivery?.smarthost?.passwordFile) config.delivery.smarthost.passwordFile = local(config.delivery.smarthost.passwordFile);
    for (const d of config.domains ?? []) if (d.dkim) d.dkim.privateKeyFile = local(d.dkim.privateKeyFile);
    if ((config.delivery?.mode ?? 'mx') === 'mx') config.delivery = { ...config.delivery, resolvers: [this.#opts.resolver], port: this.#opts.mxPort };
    mkdirSync(config.queue.dir, { recursive: true });
    const configFile = join(pod.dir, 'relay.yaml');
    writeFileSync(configFile, stringify(config));

    const log = createWriteStream(join(pod.dir, 'relay.log'), { flags: 'a' });
    const child = spawn(process.execPath, ['--import', 'tsx', this.#opts.relayMain, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    pod.child = child;
    pod.ready = false;
    child.once('exit', (code, signal) => {
      if (pod.child === child) {
        pod.child = undefined;
        pod.ready = false;
        if (this.#stopped) return;
        this.#opts.log(`pod ${pod.namespace}/${pod.name} exited (${signal ?? code}); restarting; see ${join(pod.dir, 'relay.log')}`);
        // Like a kubelet: restart after a pause (so a crash loop does not spin), report the status meanwhile.
        setTimeout(() => this.#schedule([`${pod.namespace}/${pod.relay}`]), 2000).unref();
      }
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && pod.child === child) {
      try {
        if ((await fetch(`http://127.0.0.1:${pod.ports.get('metrics')}/readyz`)).ok) {
          pod.ready = true;
          this.#opts.log(`pod ${pod.namespace}/${pod.name} ready: ${[...pod.ports].map(([k, v]) => `${k}=127.0.0.1:${v}`).join(' ')}`);
          return;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async #stopPod(pod: LocalPod): Promise<void> {
    const child = pod.child;
    if (!child) return;
    pod.child = undefined;
    pod.ready = false;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /**
   * What the StatefulSet and EndpointSlice controllers would report: the rollout's progress, and
   * where each ready pod's ports are (here: its local ports), which the operator reads metrics from.
   */
  async #reportStatus(set: V1StatefulSet, hash: string): Promise<void> {
    const pods = [...this.pods.values()].filter((p) => p.namespace === set.metadata!.namespace && p.relay === set.metadata!.name);
    const headless = set.spec!.serviceName!;
    for (const pod of pods) {
      await this.#rest.request('PATCH', resourcePath('discovery.k8s.io/v1', 'endpointslices', pod.namespace, `${headless}-${pod.name}`), {
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: 'local-stack', force: true },
        body: {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            name: `${headless}-${pod.name}`,
            namespace: pod.namespace,
            // As the EndpointSlice controller does: the Service's labels plus its name.
            labels: { ...set.metadata!.labels, 'kubernetes.io/service-name': headless, 'endpointslice.kubernetes.io/managed-by': 'local-stack' },
          },
          addressType: 'IPv4',
          endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: pod.ready }, hostname: pod.name }],
          ports: [...pod.ports].map(([name, port]) => ({ name, port, protocol: 'TCP' })),
        },
      });
    }
    const ready = pods.filter((p) => p.ready).length;
    const revision = `${set.metadata!.name}-${hash.slice(0, 10)}`;
    await this.#rest.request('PATCH', resourcePath('apps/v1', 'statefulsets', set.metadata!.namespace, set.metadata!.name, 'status'), {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          observedGeneration: set.metadata!.generation,
          replicas: pods.length,
          readyReplicas: ready,
          availableReplicas: ready,
          updatedReplicas: pods.length,
          currentReplicas: pods.length,
          currentRevision: revision,
          updateRevision: revision,
        },
      },
    });
  }
}
