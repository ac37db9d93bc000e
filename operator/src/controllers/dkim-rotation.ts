import { Reasons, type SendingDomain, type SendingDomainStatus } from '../api/v1alpha1/types.ts';
import { buildRotationSelector, isRotatedSelector } from '../resources/dkim-rotation-selector.ts';
import { names } from '../resources/names.ts';
import type { RecordCheck } from './dns-verifier.ts';

/** spec.dkim.rotation with its durations in milliseconds. */
export interface RotationPolicy {
  /** As written (`90d`), for messages. */
  readonly every?: string;
  readonly everyMs?: number;
  readonly graceMs: number;
  readonly rotateNow?: string;
}

type DkimStatus = NonNullable<SendingDomainStatus['dkim']>;

/**
 * Where a rotation stands: what status.dkim says, so that an operator restarted at any step
 * carries on from the API server's record, not from memory.
 */
export interface RotationState {
  readonly active: { readonly selector: string; readonly secretName: string };
  readonly since?: string;
  readonly rotateNow?: string;
  readonly pending?: NonNullable<DkimStatus['pending']>;
  readonly retiring?: NonNullable<DkimStatus['retiring']>;
}

/** A generated key Secret of the domain (label mailrelay.dev/sending-domain), whatever status says. */
export interface RotationKey {
  readonly selector: string;
  readonly secretName: string;
  readonly createdAt: string;
}

export type RotationStep =
  /** Nothing to do now. */
  | 'none'
  /** First reconcile with rotation: records when the active key began and the rotateNow token. */
  | 'record'
  /** Generate a key under `next.pending.selector`. */
  | 'start'
  /** A key Secret made by an earlier start whose status write was lost: it becomes the pending key. */
  | 'adopt'
  | 'verified'
  | 'unverified'
  /** The pending key signs; the active one retires after the grace period. */
  | 'switch'
  /** Delete the retiring key's Secret. */
  | 'retire';

export interface RotationDecision {
  readonly step: RotationStep;
  readonly next: RotationState;
  /** The DKIMKeyReady reason and message; undefined when rotation has nothing to say (never rotated). */
  readonly reason?: string;
  readonly message: string;
  /** The Event to record for this step, if any. */
  readonly event?: { readonly reason: string; readonly message: string };
  /** When the next step falls due by the clock (0: at once). */
  readonly requeueAfterMs?: number;
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as the CRD allows it (`90d`, `12h`, `30m`); undefined for anything else. */
export function parseRotationDuration(text: string | undefined): number | undefined {
  const m = text === undefined ? null : /^(\d+)(m|h|d)$/.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

/** The policy of a SendingDomain, or undefined without rotation or with a key of the user's own. */
export function parseRotationPolicy(sd: SendingDomain): RotationPolicy | undefined {
  const rotation = sd.spec.dkim.rotation;
  if (!rotation || sd.spec.dkim.secretRef) return undefined;
  const everyMs = parseRotationDuration(rotation.every);
  return {
    ...(everyMs !== undefined ? { every: rotation.every, everyMs } : {}),
    graceMs: parseRotationDuration(rotation.gracePeriod) ?? 7 * UNIT_MS.d!,
    ...(rotation.rotateNow !== undefined ? { rotateNow: rotation.rotateNow } : {}),
  };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface RotationInputs {
  readonly sendingDomain: string;
  readonly domain: string;
  readonly policy: RotationPolicy;
  readonly state: RotationState;
  readonly keys: readonly RotationKey[];
  /** The DNS check of the pending key's record in this reconcile. */
  readonly pendingCheck?: RecordCheck;
  readonly now: Date;
}

/**
 * The next step of a DKIM key rotation, one step per reconcile. The order keeps the rules: a key
 * signs only once a DNS check saw its record published (step verified) and the check of a
 * later reconcile still does (step switch), so a restart in between checks again; the
 * previous key keeps its record for the grace period; one rotation at a time, so a new one waits
 * for the previous key to retire; selectors are never used twice. Pure.
 */
export function decideRotation(input: RotationInputs): RotationDecision {
  const { policy, state, keys, now } = input;
  const nowMs = now.getTime();
  const record = (selector: string) => `${selector}._domainkey.${input.domain}`;

  if (state.since === undefined) {
    const next = { ...state, since: iso(nowMs), ...(policy.rotateNow !== undefined ? { rotateNow: policy.rotateNow } : {}) };
    return { step: 'record', next, message: `signing with selector ${state.active.selector}; rotation enabled`, requeueAfterMs: 0 };
  }

  const retiring = state.retiring;
  if (retiring && nowMs >= Date.parse(retiring.until)) {
    const { retiring: _gone, ...next } = state;
    const message = `selector ${retiring.selector} retired after its grace period: delete its record ${record(retiring.selector)}; signing with ${state.active.selector}`;
    return { step: 'retire', next, reason: Reasons.RotationRetired, message, event: { reason: Reasons.RotationRetired, message }, requeueAfterMs: 0 };
  }

  let pending = state.pending;
  if (pending && !keys.some((k) => k.secretName === pending!.secretName)) pending = undefined; // its Secret was deleted: start again
  if (pending) {
    const published = input.pendingCheck?.outcome === 'published';
    if (published && pending.verified) {
      const next: RotationState = {
        active: { selector: pending.selector, secretName: pending.secretName },
        since: iso(nowMs),
        ...(state.rotateNow !== undefined ? { rotateNow: state.rotateNow } : {}),
        retiring: { selector: state.active.selector, secretName: state.active.secretName, until: iso(nowMs + policy.graceMs) },
      };
      const message = `signing with selector ${pending.selector} now; keep the record of ${state.active.selector} published until ${next.retiring!.until}`;
      return { step: 'switch', next, reason: Reasons.Rotated, message, event: { reason: Reasons.Rotated, message }, requeueAfterMs: policy.graceMs };
    }
    if (published) {
      const next = { ...state, pending: { ...pending, verified: true } };
      const message = `DNS serves the record of the next key ${record(pending.selector)}; it signs after the next check`;
      return { step: 'verified', next, reason: Reasons.RotationVerified, message, event: { reason: Reasons.RotationVerified, message }, requeueAfterMs: 0 };
    }
    const found = input.pendingCheck ? `: ${input.pendingCheck.result}` : '';
    const message = `signing with selector ${state.active.selector}; publish the next key's record ${record(pending.selector)} (status.dnsRecords, state Pending)${found}`;
    if (pending.verified) {
      const next = { ...state, pending: { ...pending, verified: false } };
      return { step: 'unverified', next, reason: Reasons.RotationPending, message, event: { reason: Reasons.RotationPending, message } };
    }
    return { step: 'none', next: state, reason: Reasons.RotationPending, message };
  }

  const sinceMs = Date.parse(state.since);
  const dueAt = policy.everyMs !== undefined ? sinceMs + policy.everyMs : undefined;
  const onDemand = policy.rotateNow !== undefined && policy.rotateNow !== state.rotateNow;
  const lostPending = state.pending !== undefined;
  const due = onDemand || lostPending || (dueAt !== undefined && nowMs >= dueAt);
  const steady = retiring
    ? {
        reason: Reasons.Rotated,
        message: `signing with selector ${state.active.selector}; keep the record of ${retiring.selector} published until ${retiring.until}`,
        requeueAfterMs: Date.parse(retiring.until) - nowMs,
      }
    : {
        reason: isRotatedSelector(state.active.selector) ? Reasons.RotationRetired : undefined,
        message: `signing with selector ${state.active.selector} since ${state.since}${dueAt !== undefined ? `; next rotation at ${iso(dueAt)}` : ''}`,
        ...(dueAt !== undefined ? { requeueAfterMs: Math.max(0, dueAt - nowMs) } : {}),
      };
  if (!due) return { step: 'none', next: state, ...steady };
  if (retiring) return { step: 'none', next: state, ...steady, message: `${steady.message}; the next rotation is due and starts when ${retiring.selector} retires` };

  const rotateNow = policy.rotateNow !== undefined ? { rotateNow: policy.rotateNow } : {};
  // A Secret from a start whose status write was lost (a restart right after it): made after the
  // active key began, under a rotation selector, and in no role yet.
  const roles = new Set([state.active.selector, state.pending?.selector]);
  const orphan = keys.find((k) => !roles.has(k.selector) && isRotatedSelector(k.selector) && Date.parse(k.createdAt) >= sinceMs);
  const selector = orphan?.selector ?? buildRotationSelector(now, [state.active.selector, ...(state.pending ? [state.pending.selector] : []), ...keys.map((k) => k.selector)]);
  const next: RotationState = {
    ...state,
    ...rotateNow,
    pending: { selector, secretName: orphan?.secretName ?? names.dkimSecret(input.sendingDomain, selector), createdAt: orphan?.createdAt ?? iso(nowMs), verified: false },
  };
  const why = onDemand ? 'rotateNow changed' : lostPending ? `the Secret of the next key ${state.pending!.selector} was deleted` : `the key has signed for ${policy.every ?? `${policy.everyMs} ms`}`;
  const message = `${why}: generated the next key, selector ${selector}; publish its record ${record(selector)} (status.dnsRecords, state Pending); selector ${state.active.selector} signs until DNS serves it`;
  return { step: orphan ? 'adopt' : 'start', next, reason: Reasons.RotationPending, message, event: { reason: Reasons.RotationPending, message }, requeueAfterMs: 0 };
}
