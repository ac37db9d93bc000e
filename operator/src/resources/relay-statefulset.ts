import type { V1Container, V1ResourceRequirements, V1StatefulSet, V1TopologySpreadConstraint, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { MailRelay } from '../api/v1alpha1/types.ts';
import { annotations, relayLabels, relayPodLabels, relaySelectorLabels, topologyKeys } from './labels.ts';
import { names, paths, ports } from './names.ts';
import { webhookSecretKey, webhookSecretPath } from './relay-webhooks.ts';
import { ownedMeta } from './owner.ts';

export interface StatefulSetContext {
  /** The operator's default, used when spec.image is empty. */
  readonly defaultImage: string;
  /** Hash of relay.yaml and every secret the relay reads only at start-up. */
  readonly configHash: string;
  /** Secret with tls.crt and tls.key: the user's, or cert-manager's. */
  readonly tlsSecretName?: string;
  /** Whether any domain has a DKIM key: Secret `<relay>-dkim` is mounted then. */
  readonly dkim: boolean;
  /** Webhooks in relay.yaml (scope `relay` or their domain): their key files are in the relay's auth Secret. */
  readonly webhooks?: readonly { readonly scope: string; readonly name: string }[];
}

const RUN_AS = 65532;

/**
 * Without requests the pods are BestEffort, the first evicted under node pressure, taking their
 * spool with them until they come back. The memory limit leaves room above the spool's queue
 * index (about 70 MiB live heap with 100,000 messages queued); no CPU limit, as throttling an
 * SMTP server only lengthens every session. Ephemeral storage is the 64Mi /tmp and the logs.
 */
const DEFAULT_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '128Mi' },
  limits: { memory: '512Mi', 'ephemeral-storage': '1Gi' },
};

/** Relay pods: one spool volume each, locked-down security context, config hash on the template. Pure. */
export function buildStatefulSet(relay: MailRelay, ctx: StatefulSetContext): V1StatefulSet {
  const name = relay.metadata.name;
  const { spec } = relay;
  const { volumes, mounts } = buildVolumes(relay, ctx);
  const container: V1Container = {
    name: 'relay',
    image: spec.image || ctx.defaultImage,
    command: ['mail-relay'],
    args: ['--config', paths.configFile],
    ports: [
      ...spec.listeners.map((l) => ({ name: l.name, containerPort: ports.container(l.port), protocol: 'TCP' })),
      ...(spec.http.enabled ? [{ name: 'http', containerPort: spec.http.port, protocol: 'TCP' }] : []),
      { name: 'metrics', containerPort: ports.metrics, protocol: 'TCP' },
      { name: 'admin', containerPort: ports.admin, protocol: 'TCP' },
      ...(spec.unsubscribe ? [{ name: 'unsubscribe', containerPort: ports.unsubscribe, protocol: 'TCP' }] : []),
    ],
    readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 5, failureThreshold: 2 },
    livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, periodSeconds: 10, failureThreshold: 6 },
    // A terminating pod leaves the Service's endpoints only after the kubelet has started to stop
    // it; without a pause its listeners close while clients are still sent to it (ECONNREFUSED
    // during every roll). 5 s, then SIGTERM and the relay's own shutdown grace, inside the 60 s.
    lifecycle: { preStop: { sleep: { seconds: 5 } } },
    // The user on the container too, not only the pod: linters (trivy KSV020/KSV021) read it here.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS,
      runAsGroup: RUN_AS,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: mounts,
    // spec.pod.resources replaces the defaults as a whole: merging could pair a user's request with a smaller default limit.
    resources: spec.pod.resources ? resourcesOf(spec.pod.resources) : structuredClone(DEFAULT_RESOURCES),
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: ownedMeta(relay, names.relayStatefulSet(name), relayLabels(name)),
    spec: {
      replicas: spec.replicas,
      serviceName: names.relayHeadlessService(name),
      // Pods of a relay are interchangeable; there is no reason to start them one by one.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: relaySelectorLabels(name) },
      updateStrategy: { type: 'RollingUpdate' },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      template: {
        metadata: {
          labels: relayPodLabels(name),
          annotations: { ...spec.pod.annotations, [annotations.configHash]: ctx.configHash },
        },
        spec: {
          // SIGTERM stops intake and lets in-flight deliveries finish; the spool keeps the rest.
          terminationGracePeriodSeconds: 60,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUN_AS,
            runAsGroup: RUN_AS,
            fsGroup: RUN_AS,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [container],
          volumes,
          ...(spec.pod.nodeSelector ? { nodeSelector: spec.pod.nodeSelector } : {}),
          ...(spec.pod.tolerations ? { tolerations: spec.pod.tolerations } : {}),
          ...(spec.pod.affinity ? { affinity: spec.pod.affinity } : {}),
          topologySpreadConstraints: spec.pod.topologySpreadConstraints ?? defaultSpread(name),
        },
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          // names.relaySpoolClaim spells the claims made from it
          metadata: { name: 'spool', labels: relaySelectorLabels(name) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            resources: { requests: { storage: spec.queue.storage.size } },
            ...(spec.queue.storage.storageClassName ? { storageClassName: spec.queue.storage.storageClassName } : {}),
          },
        },
      ],
    },
  };
}

/**
 * Replicas on one node or in one zone fail together, queues and all. ScheduleAnyway: a
 * single-node or single-zone cluster still runs every replica, just not spread.
 */
function defaultSpread(relay: string): V1TopologySpreadConstraint[] {
  return [topologyKeys.hostname, topologyKeys.zone].map((topologyKey) => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: relaySelectorLabels(relay) },
  }));
}

function buildVolumes(relay: MailRelay, ctx: StatefulSetContext): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const name = relay.metadata.name;
  const { spec } = relay;
  const volumes: V1Volume[] = [
    { name: 'config', configMap: { name: names.relayConfigMap(name) } },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ];
  const mounts: V1VolumeMount[] = [
    { name: 'config', mountPath: paths.configDir, readOnly: true },
    { name: 'spool', mountPath: paths.spoolDir },
    { name: 'tmp', mountPath: '/tmp' },
  ];
  if (ctx.tlsSecretName) {
    // Mounted as a directory (no subPath) so renewed certificates appear without a restart.
    volumes.push({ name: 'tls', secret: { secretName: ctx.tlsSecretName, items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.key', path: 'tls.key' }] } });
    mounts.push({ name: 'tls', mountPath: paths.tlsDir, readOnly: true });
  }
  // always: it holds the admin API token at least
  volumes.push({ name: 'auth', secret: { secretName: names.relayAuthSecret(name) } });
  mounts.push({ name: 'auth', mountPath: paths.authDir, readOnly: true });
  const smarthost = spec.delivery.mode === 'smarthost' ? spec.delivery.smarthost : undefined;
  if (smarthost?.credentialsSecretName) {
    volumes.push({ name: 'smarthost', secret: { secretName: smarthost.credentialsSecretName, items: [{ key: 'password', path: 'password' }] } });
    mounts.push({ name: 'smarthost', mountPath: paths.smarthostDir, readOnly: true });
  }
  if (ctx.dkim) {
    // The whole Secret, no items and no subPath: a key added for a rotation appears in the
    // running pods (the kubelet swaps the files), and the relay reloads it with relay.yaml.
    volumes.push({ name: 'dkim', secret: { secretName: names.relayDkimSecret(name), defaultMode: 0o440 } });
    mounts.push({ name: 'dkim', mountPath: paths.dkimDir, readOnly: true });
  }
  if (ctx.webhooks?.length) {
    // A directory mount (no subPath): the kubelet swaps in a changed key file, and the relay re-reads it without a restart.
    const items = ctx.webhooks.map((w) => ({ key: webhookSecretKey(w.scope, w.name), path: webhookSecretPath(w.scope, w.name).slice(paths.webhooksDir.length + 1) }));
    volumes.push({ name: 'webhooks', secret: { secretName: names.relayAuthSecret(name), items, defaultMode: 0o440 } });
    mounts.push({ name: 'webhooks', mountPath: paths.webhooksDir, readOnly: true });
  }
  return { volumes, mounts };
}

/** The API server keeps a quantity as the user wrote it, so `cpu: 1` arrives as a number; the pod spec takes strings. */
function resourcesOf(resources: NonNullable<MailRelay['spec']['pod']['resources']>): V1ResourceRequirements {
  const quantities = (map: Record<string, unknown>) => Object.fromEntries(Object.entries(map).map(([k, v]) => [k, String(v)]));
  return {
    ...(resources.requests ? { requests: quantities(resources.requests) } : {}),
    ...(resources.limits ? { limits: quantities(resources.limits) } : {}),
  };
}
