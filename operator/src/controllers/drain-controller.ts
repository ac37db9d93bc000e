import type { V1StatefulSet } from '@kubernetes/client-node';
import type { MailRelay } from '../api/v1alpha1/types.ts';
import { describeError } from '../errors.ts';
import { labelKeys } from '../resources/labels.ts';
import { names } from '../resources/names.ts';
import type { ControllerContext } from './context.ts';
import { decideDrain, type DrainPod, type DrainReport, type DrainStatus } from './drain-decision.ts';

export interface DrainOutcome {
  /** StatefulSet replicas to apply now. */
  readonly replicas: number;
  readonly status: DrainStatus | undefined;
  readonly requeueAfterMs?: number;
}

/** Seconds a pod taken out of the Service keeps its listeners open: kube-proxy's rules follow the EndpointSlice a moment later. */
const QUIESCE_SECONDS = 5;

/**
 * The effects of decideDrain for one relay (README "Scaling down"): asks the leaving pods how
 * far they are, relabels, starts drains, resumes pods kept after all, deletes drained claims
 * and records the Events. Returns the replicas for the StatefulSet and status.drain.
 */
export async function reconcileDrain(ctx: ControllerContext, relay: MailRelay, live: V1StatefulSet | undefined): Promise<DrainOutcome> {
  const { namespace, name } = relay.metadata;
  const log = ctx.logger.child({ kind: 'MailRelay', namespace, name });
  const desired = relay.spec.replicas;
  const current = live ? (live.spec?.replicas ?? 1) : undefined;
  const serving = new Map(ctx.caches.pods.list(namespace).map((p) => [p.metadata?.name ?? '', p.metadata?.labels?.[labelKeys.serving] !== 'false']));
  const pods: DrainPod[] = ctx.relayAdmin.pods(namespace, name).map((p) => ({ ...p, serving: serving.get(p.name) ?? true }));

  // only the pods above spec.replicas are asked, and only once out of the Service
  const reports = new Map<string, DrainReport | undefined>();
  if (current !== undefined) {
    await Promise.all(
      pods
        .filter((p) => p.ordinal >= desired && !p.serving)
        .map(async (p) => {
          try {
            const res = await ctx.relayAdmin.request<{ state?: unknown; left?: unknown }>(namespace, name, p, 'GET', '/v1/drain');
            reports.set(p.name, parseReport(res.body));
          } catch (err) {
            log.info('drain progress unavailable', { pod: p.name, error: describeError(err) });
          }
        }),
    );
  }

  const decision = decideDrain({
    desired,
    current,
    pods,
    reports,
    status: relay.status?.drain,
    podName: (n) => names.relayPod(name, n),
    claimName: (n) => names.relaySpoolClaim(names.relayStatefulSet(name), n),
    adminPort: ctx.relayAdmin.port,
    now: ctx.now().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  });

  for (const pod of decision.unserve) {
    await ctx.applier.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod, namespace, labels: { [labelKeys.serving]: 'false' } } });
    log.info('pod taken out of the Service for a drain', { pod });
  }
  for (const { pod, targets } of decision.drain) {
    const target = pods.find((p) => p.name === pod)!;
    try {
      await ctx.relayAdmin.request(namespace, name, target, 'POST', '/v1/drain', { targets: targets.map((address) => ({ address })), quiesceSeconds: QUIESCE_SECONDS });
    } catch (err) {
      // asked again on the next pass
      log.warn('drain request failed', { pod, error: describeError(err) });
    }
  }
  for (const name of decision.resume) {
    // the relay restarts itself if it had started draining (its listeners closed for good); readiness gates its return
    const pod = pods.find((p) => p.name === name);
    if (pod) await ctx.relayAdmin.request(namespace, relay.metadata.name, pod, 'DELETE', '/v1/drain');
    await ctx.applier.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace, labels: { [labelKeys.serving]: 'true' } } });
    log.info('pod kept after all back in the Service', { pod: name });
  }
  for (const claim of decision.deleteClaims) {
    if (await ctx.applier.delete({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name: claim })) log.info('drained spool claim deleted', { claim });
  }
  for (const e of decision.events) await ctx.events.record(relay, e.type, e.reason, e.message);
  return { replicas: decision.replicas, status: decision.status, ...(decision.requeueAfterMs !== undefined ? { requeueAfterMs: decision.requeueAfterMs } : {}) };
}

function parseReport(body: { state?: unknown; left?: unknown }): DrainReport | undefined {
  const { state, left } = body ?? {};
  if ((state !== 'idle' && state !== 'draining' && state !== 'drained') || typeof left !== 'number' || !Number.isInteger(left) || left < 0) return undefined;
  return { state, left };
}
