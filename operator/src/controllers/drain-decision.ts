import { Reasons, type MailRelayStatus } from '../api/v1alpha1/types.ts';

/** A relay pod as the drain sees it: from the Pod cache (RelayPod) and its serving label. */
export interface DrainPod {
  readonly name: string;
  readonly ordinal: number;
  readonly ip: string;
  readonly ready: boolean;
  /** The pod has `mailrelay.dev/serving: "true"` (the client Service selects it). */
  readonly serving: boolean;
}

/** What a leaving pod's `GET /v1/drain` said this reconcile; undefined: it did not answer. */
export interface DrainReport {
  readonly state: 'idle' | 'draining' | 'drained';
  readonly left: number;
}

export type DrainStatus = NonNullable<MailRelayStatus['drain']>;

export interface DrainInput {
  /** spec.replicas. */
  readonly desired: number;
  /** The live StatefulSet's spec.replicas; undefined before it exists. */
  readonly current: number | undefined;
  readonly pods: readonly DrainPod[];
  readonly reports: ReadonlyMap<string, DrainReport | undefined>;
  /** status.drain as last written: what a restarted operator resumes from. */
  readonly status: DrainStatus | undefined;
  /** The StatefulSet's pod names by ordinal (`<sts>-<n>`). */
  readonly podName: (ordinal: number) => string;
  /** The StatefulSet's spool claim names by ordinal (`spool-<sts>-<n>`). */
  readonly claimName: (ordinal: number) => string;
  /** The relay pods' admin port (ports.admin). */
  readonly adminPort: number;
  readonly now: string;
}

export interface DrainEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface DrainDecision {
  /** StatefulSet replicas to apply: the current count until every leaving pod is drained. */
  readonly replicas: number;
  /** Pods to take out of the client Service (serving label "false"). */
  readonly unserve: readonly string[];
  /** Pods to ask to drain (or to take new targets): `POST /v1/drain`. */
  readonly drain: ReadonlyArray<{ readonly pod: string; readonly targets: readonly string[] }>;
  /** Pods kept after all (scale-up during a drain): back into the Service, restarted when they had started draining. */
  readonly resume: readonly string[];
  /** Spool claims of drained pods that are gone. */
  readonly deleteClaims: readonly string[];
  readonly status: DrainStatus | undefined;
  readonly events: readonly DrainEvent[];
  /** Come back while the drain runs. */
  readonly requeueAfterMs?: number;
}

/**
 * The scale-down drain (README "Scaling down"), decided from what the caches and the leaving
 * pods say now, so an operator restarted at any point resumes it. Pure.
 *
 *  1. spec.replicas below the StatefulSet's: the pods with the highest ordinals leave. Each is
 *     taken out of the client Service first (serving label), then, once the cache shows that,
 *     asked to drain towards the staying ready pods (asked again every pass: a staying pod may
 *     have a new address).
 *  2. Every leaving pod reports its queue empty with intake closed: the StatefulSet shrinks.
 *  3. A leaving pod is gone: its spool claim is deleted, only when status.drain recorded it drained.
 *     A claim of a pod that went away without that (someone scaled the StatefulSet by hand) is
 *     kept, with a warning.
 *  Scale-up during a drain: the pods kept after all go back into the Service; those that had
 *  started draining restart (they closed their listeners for good) and come back with whatever
 *  they still queue.
 */
export function decideDrain(input: DrainInput): DrainDecision {
  const { desired, current, pods, reports, status } = input;
  if (current === undefined) return { replicas: desired, unserve: [], drain: [], resume: [], deleteClaims: [], status: undefined, events: [] };
  const byName = new Map(pods.map((p) => [p.name, p]));
  const events: DrainEvent[] = [];

  // kept after all: they closed their listeners for good
  const resume = pods.filter((p) => p.ordinal < desired && !p.serving).map((p) => p.name);
  if (desired >= current) {
    const deleteClaims: string[] = [];
    const retained: string[] = [];
    const leftPods = (status?.pods ?? []).map((p) => ({ ...p, ordinal: ordinalOf(p.name) })).filter((p) => p.ordinal !== undefined && p.ordinal >= desired);
    // The StatefulSet shrank; its controller has not removed every leaving pod yet. The pods'
    // answers count too: the cached status may predate the one written with the shrink.
    if (status && leftPods.some((p) => byName.has(p.name))) {
      const kept = (status.pods ?? []).map((p) => {
        const pod = byName.get(p.name);
        const report = reports.get(p.name);
        const drained = p.drained === true || (!!pod && !pod.serving && report?.state === 'drained' && report.left === 0);
        return { ...p, ...(report ? { left: report.left } : {}), ...(drained ? { drained: true } : {}) };
      });
      return { replicas: desired, unserve: [], drain: [], resume, deleteClaims: [], status: { ...status, pods: kept }, events, requeueAfterMs: 2000 };
    }
    for (const p of leftPods) {
      const ordinal = p.ordinal!;
      if (p.drained) deleteClaims.push(input.claimName(ordinal));
      else retained.push(input.claimName(ordinal));
    }
    if (status) {
      if (resume.length > 0) events.push({ type: 'Normal', reason: Reasons.DrainCancelled, message: `spec.replicas is ${desired} again: pods ${resume.join(', ')} resume and keep their queues` });
      else events.push({ type: 'Normal', reason: Reasons.DrainFinished, message: `scaled down from ${status.fromReplicas} to ${current} pods; every queued message was handed to the pods that stay` });
      if (retained.length > 0) events.push({ type: 'Warning', reason: Reasons.QueueRetained, message: `volume claims ${retained.join(', ')} kept: their pods left without reporting an empty queue` });
    }
    return { replicas: desired, unserve: [], drain: [], resume, deleteClaims, status: undefined, events };
  }

  const leavingOrdinals = range(desired, current);
  const leaving = leavingOrdinals.map((o) => pods.find((p) => p.ordinal === o));
  // No pod above spec.replicas (the StatefulSet was scaled up by hand and never ran them): nothing to drain.
  if (!status && leaving.every((p) => p === undefined)) {
    return { replicas: desired, unserve: [], drain: [], resume, deleteClaims: [], status: undefined, events };
  }
  const staying = pods.filter((p) => p.ordinal < desired && p.ready && p.serving);
  const targets = staying.map((p) => `${p.ip.includes(':') ? `[${p.ip}]` : p.ip}:${input.adminPort}`);
  const unserve = leaving.filter((p): p is DrainPod => !!p && p.serving).map((p) => p.name);
  const drain =
    targets.length === 0
      ? []
      : leaving.filter((p): p is DrainPod => !!p && !p.serving && reports.get(p.name)?.state !== 'drained').map((p) => ({ pod: p.name, targets }));
  const podStatus = leavingOrdinals.map((ordinal, i) => {
    const pod = leaving[i];
    const name = pod?.name ?? input.podName(ordinal);
    const report = pod ? reports.get(pod.name) : undefined;
    const drained = !!pod && !pod.serving && report?.state === 'drained' && report.left === 0;
    return { name, ...(report ? { left: report.left } : {}), ...(drained ? { drained: true } : {}) };
  });
  // A leaving pod missing now but seen in this drain (being recreated) is waited for; one never seen had nothing.
  const seen = new Set((status?.pods ?? []).filter((p) => p.left !== undefined).map((p) => p.name));
  const allDrained = podStatus.every((p, i) => p.drained === true || (leaving[i] === undefined && !seen.has(p.name)));
  const next: DrainStatus = {
    fromReplicas: status?.fromReplicas ?? current,
    toReplicas: desired,
    startedAt: status?.startedAt ?? input.now,
    pods: podStatus,
  };
  if (!status) {
    events.push({ type: 'Normal', reason: Reasons.DrainStarted, message: `scaling down from ${current} to ${desired} pods: ${leaving.filter(Boolean).map((p) => p!.name).join(', ')} hand their queues to the pods that stay first` });
  }
  if (allDrained) {
    events.push({ type: 'Normal', reason: Reasons.DrainCompleted, message: `pods ${podStatus.map((p) => p.name).join(', ')} have nothing queued; the StatefulSet shrinks to ${desired}` });
  }
  return { replicas: allDrained ? desired : current, unserve, drain, resume, deleteClaims: [], status: next, events, requeueAfterMs: 2000 };
}

/** The drain's line in the Draining condition. */
export function describeDrain(status: DrainStatus | undefined): { status: 'True' | 'False'; reason: string; message: string } {
  if (!status) return { status: 'False', reason: Reasons.NotDraining, message: 'no scale-down in progress' };
  const left = status.pods?.reduce((n, p) => n + (p.left ?? 0), 0) ?? 0;
  const waiting = status.pods?.filter((p) => p.left === undefined).length ?? 0;
  return {
    status: 'True',
    reason: Reasons.Draining,
    message: `scaling down from ${status.fromReplicas} to ${status.toReplicas} pods: ${left} messages left to hand over${waiting > 0 ? `, ${waiting} pods not answering yet` : ''}`,
  };
}

function ordinalOf(podName: string): number | undefined {
  const m = /-(\d{1,6})$/.exec(podName);
  return m ? Number(m[1]) : undefined;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}
