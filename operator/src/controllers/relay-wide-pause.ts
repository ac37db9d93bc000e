import type { SendingDomain } from '../api/v1alpha1/types.ts';
import { describeError } from '../errors.ts';
import { relayDomains, type ControllerContext } from './context.ts';
import { ratesOf, type WindowCounts } from './relay-figures.ts';
import type { PodFigures } from './reputation-poller.ts';

/**
 * The relay-wide pause of a sending domain (docs/design.md "Relay-wide reputation"): decided
 * on the sums of every pod's counts since the last resume, pushed to every pod through its
 * admin API, and kept there (each pod persists it). A resume on any pod (the HTTP API or
 * resumeBefore) shows as that pod's last-resume time and is carried to the others. Times are
 * ordered across pods because a pod's resume is stamped after every pause it lifted and a new
 * pause after every resume seen.
 */

export interface FleetPause {
  readonly since: number;
  readonly reason: string;
}

export type Thresholds = SendingDomain['spec']['reputation'];

/** What every pod should hold, decided from the pods' reports. */
export interface FleetDecision {
  /** The relay-wide pause in force, if any. */
  readonly pause: FleetPause | undefined;
  /** Whether `pause` is new: decided now on the sums. */
  readonly decided: boolean;
  /** The latest resume of any pod (ms, 0 for never): every pod is brought up to it. */
  readonly resumedAt: number;
}

export type PodPush = { readonly ip: string; readonly action: 'pause'; readonly pause: FleetPause } | { readonly ip: string; readonly action: 'resume'; readonly before: number };

function formatRate(rate: number): string {
  return rate.toFixed(4).replace(/0+$/, '').replace(/\.$/, '');
}

/** A breach of the thresholds by summed counts, as the relay judges its own (above, not at, the maximum). */
export function decideBreach(thresholds: Thresholds, sums: WindowCounts): string | undefined {
  const { maxBounceRate, maxComplaintRate, minVolume } = thresholds;
  if (sums.sent < minVolume || sums.sent === 0) return undefined;
  const rates = ratesOf(sums);
  const reasons: string[] = [];
  if (rates.bounceRate > maxBounceRate) reasons.push(`bounce rate ${formatRate(rates.bounceRate)} above ${maxBounceRate} (${sums.bounced} hard bounces of ${sums.sent} sent)`);
  if (rates.complaintRate > maxComplaintRate) reasons.push(`complaint rate ${formatRate(rates.complaintRate)} above ${maxComplaintRate} (${sums.complained} complaints of ${sums.delivered} delivered)`);
  return reasons.length > 0 ? `relay-wide: ${reasons.join('; ')}` : undefined;
}

/**
 * The relay-wide pause from the thresholds, the summed counts since the last resume, and the
 * pause the pods hold now (`current`: the latest relay-wide pause any pod holds, with the
 * reason the operator knows for it, the latest resume of any pod, and whether a pod is behind
 * it). A pause newer than every resume stays; else, once every pod has had the resume, a breach
 * of the sums pauses anew, after that resume. Pure.
 */
export function decideFleetPause(
  thresholds: Thresholds,
  sums: WindowCounts,
  current: { readonly pausedSince: number; readonly reason: string | undefined; readonly resumedAt: number; readonly behind?: boolean },
  now: number,
): FleetDecision {
  const { resumedAt } = current;
  if (current.pausedSince > resumedAt) {
    const reason = current.reason ?? `relay-wide pause since ${new Date(current.pausedSince).toISOString()} (the sums over the relay's pods breached a threshold)`;
    return { pause: { since: current.pausedSince, reason }, decided: false, resumedAt };
  }
  // A pod that has not had the latest resume yet still counts what came before it: its figures
  // would pause the domain again at once. The resume goes to it first (decidePodPushes).
  if (current.behind) return { pause: undefined, decided: false, resumedAt };
  const breach = thresholds.pauseOnBreach ? decideBreach(thresholds, sums) : undefined;
  if (!breach) return { pause: undefined, decided: false, resumedAt };
  return { pause: { since: Math.max(now, resumedAt + 1), reason: breach }, decided: true, resumedAt };
}

/** What to push to which pod: the pause to every pod without it, the latest resume to every pod behind it. Pure. */
export function decidePodPushes(decision: FleetDecision, pods: readonly PodFigures[]): PodPush[] {
  const out: PodPush[] = [];
  for (const { ip, figures } of pods) {
    if (decision.pause) {
      if (figures.relayWideSince !== decision.pause.since) out.push({ ip, action: 'pause', pause: decision.pause });
    } else if (decision.resumedAt > 0 && (figures.resumedAt < decision.resumedAt || figures.relayWideSince > 0)) {
      out.push({ ip, action: 'resume', before: decision.resumedAt });
    }
  }
  return out;
}

/** The pause in force as the pods report it: the latest relay-wide pause and the latest resume. Pure. */
export function currentFleetState(pods: readonly PodFigures[]): { pausedSince: number; resumedAt: number; behind: boolean } {
  const resumedAt = Math.max(0, ...pods.map((p) => p.figures.resumedAt));
  return {
    pausedSince: Math.max(0, ...pods.map((p) => p.figures.relayWideSince)),
    resumedAt,
    behind: pods.some((p) => p.figures.resumedAt < resumedAt),
  };
}

/** What the operator remembers between polls: the reason of each pause it decided, and spec.paused pushed. */
export class RelayWideMemory {
  readonly #reasons = new Map<string, FleetPause>();
  readonly #specPushed = new Map<string, boolean>();

  reason(key: string, since: number): string | undefined {
    const known = this.#reasons.get(key);
    return known?.since === since ? known.reason : undefined;
  }

  remember(key: string, pause: FleetPause): void {
    this.#reasons.set(key, pause);
  }

  specPushed(key: string): boolean | undefined {
    return this.#specPushed.get(key);
  }

  setSpecPushed(key: string, paused: boolean | undefined): void {
    if (paused === undefined) this.#specPushed.delete(key);
    else this.#specPushed.set(key, paused);
  }

  forget(key: string): void {
    this.#reasons.delete(key);
    this.#specPushed.delete(key);
  }
}

/**
 * Decides the relay-wide pause of one SendingDomain and pushes it to the relay's pods. Returns
 * the decision and whether every push reached its pod (if not, come back at the next poll).
 */
export async function ensureFleetPause(ctx: ControllerContext, sd: SendingDomain, pods: readonly PodFigures[]): Promise<{ decision: FleetDecision; complete: boolean }> {
  const { namespace } = sd.metadata;
  const relay = sd.spec.relayRef.name;
  const domain = sd.spec.domain;
  const key = `${namespace}/${relay}/${domain}`;
  const memory = ctx.relayWide;
  const current = currentFleetState(pods);
  const sums = sumBreach(pods);
  const decision = decideFleetPause(sd.spec.reputation, sums, { ...current, reason: memory.reason(key, current.pausedSince) }, ctx.now().getTime());
  if (decision.pause) memory.remember(key, decision.pause);
  const log = ctx.logger.child({ kind: 'SendingDomain', namespace, name: sd.metadata.name, domain });
  if (decision.decided) log.warn('sending domain paused relay-wide', { reason: decision.pause!.reason, pods: pods.length });
  const byIp = new Map(ctx.relayAdmin.pods(namespace, relay).map((p) => [p.ip, p]));
  let complete = true;
  await Promise.all(
    decidePodPushes(decision, pods).map(async (push) => {
      const pod = byIp.get(push.ip);
      if (!pod) return;
      const path = `/v1/domains/${encodeURIComponent(domain)}/${push.action}`;
      const body =
        push.action === 'pause'
          ? { source: 'relay-wide', reason: push.pause.reason, since: new Date(push.pause.since).toISOString() }
          : { source: 'relay-wide', before: new Date(push.before).toISOString() };
      try {
        await ctx.relayAdmin.request(namespace, relay, pod, 'POST', path, body);
        log.info(push.action === 'pause' ? 'relay-wide pause pushed to pod' : 'resume carried to pod', { pod: pod.name });
      } catch (err) {
        complete = false;
        log.warn('relay-wide push to pod failed; again at the next poll', { pod: pod.name, action: push.action, error: describeError(err) });
      }
    }),
  );
  return { decision, complete };
}

/**
 * SendingDomain spec.paused, pushed to every pod ahead of the ConfigMap (which the kubelet
 * updates up to a minute later; the config hash leaves it out, so no pod rolls). Pushed once
 * per change, and again after a failure or an operator restart (idempotent).
 */
export async function ensureSpecPause(ctx: ControllerContext, sd: SendingDomain): Promise<boolean> {
  const { namespace } = sd.metadata;
  const relay = sd.spec.relayRef.name;
  const key = `${namespace}/${relay}/${sd.spec.domain}`;
  const paused = sd.spec.paused;
  const pods = ctx.relayAdmin.pods(namespace, relay);
  if (ctx.relayWide.specPushed(key) === paused || pods.length === 0) return true;
  const path = `/v1/domains/${encodeURIComponent(sd.spec.domain)}/${paused ? 'pause' : 'resume'}`;
  const results = await Promise.all(
    pods.map((pod) =>
      ctx.relayAdmin.request(namespace, relay, pod, 'POST', path, { source: 'spec' }).then(
        () => true,
        (err: unknown) => {
          // the pod's relay.yaml lacks the domain: it gets it with its next start, paused as the spec says
          if ((err as { status?: number }).status === 404) return true;
          ctx.logger.warn('spec.paused push to pod failed', { namespace, name: sd.metadata.name, pod: pod.name, error: describeError(err) });
          return false;
        },
      ),
    ),
  );
  const complete = results.every(Boolean);
  ctx.relayWide.setSpecPushed(key, complete ? paused : undefined);
  return complete;
}

function sumBreach(pods: readonly PodFigures[]): WindowCounts {
  const out = { sent: 0, delivered: 0, deferred: 0, bounced: 0, complained: 0 };
  for (const { figures } of pods) for (const k of Object.keys(out) as Array<keyof WindowCounts>) out[k] += figures.breach[k];
  return out;
}

/**
 * The relay-wide 24 h sums of every domain, pushed to each pod after a poll (`PUT
 * /v1/reputation/relay-wide`, one request a pod), with a lease of a few poll intervals: while
 * it lasts the pods leave breach decisions to the operator; when the operator is away it runs
 * out and each pod pauses on its own figures again.
 */
export async function pushRelayFigures(ctx: ControllerContext, namespace: string, relay: string, leaseMs: number): Promise<void> {
  const domains: Record<string, { sent: number; delivered: number; hardBounces: number; deferrals: number; complaints: number }> = {};
  for (const sd of relayDomains(ctx, namespace, relay).accepted) {
    const f = ctx.reputation.get(namespace, relay, sd.spec.domain);
    if (!f) continue;
    const w = f.window;
    domains[sd.spec.domain] = { sent: w.sent, delivered: w.delivered, hardBounces: w.bounced, deferrals: w.deferred, complaints: w.complained };
  }
  const body = { at: ctx.now().toISOString(), leaseSeconds: Math.round(leaseMs / 1000), domains };
  await Promise.all(
    ctx.relayAdmin.pods(namespace, relay).map((pod) =>
      ctx.relayAdmin.request(namespace, relay, pod, 'PUT', '/v1/reputation/relay-wide', body).catch((err: unknown) => {
        ctx.logger.debug('relay-wide figures not pushed to pod', { namespace, name: relay, pod: pod.name, error: describeError(err) });
      }),
    ),
  );
}
