import type { KeyObject } from 'node:crypto';
import type { SendingDomain, SendingDomainStatus } from '../api/v1alpha1/types.ts';
import { buildDkimSecret, DKIM_SECRET_KEY } from '../resources/dkim-secret.ts';
import { annotations, labelKeys } from '../resources/labels.ts';
import { ownSecret, secretString, type ControllerContext } from './context.ts';
import { generateKey, parseKey } from './dkim-keys.ts';
import type { RotationDecision, RotationKey, RotationState } from './dkim-rotation.ts';

type DkimStatus = NonNullable<SendingDomainStatus['dkim']>;

/** The rotation as status.dkim records it, for the key that signs now. */
export function rotationStateOf(sd: SendingDomain, active: { selector: string; secretName: string }): RotationState {
  const dkim = sd.status?.dkim;
  // A status written for another key (the selector changed by hand) says nothing about this one.
  if (!dkim || dkim.selector !== active.selector) return { active };
  return {
    active,
    ...(dkim.since ? { since: dkim.since } : {}),
    ...(dkim.rotateNow !== undefined ? { rotateNow: dkim.rotateNow } : {}),
    ...(dkim.pending ? { pending: dkim.pending } : {}),
    ...(dkim.retiring ? { retiring: dkim.retiring } : {}),
  };
}

/** The status.dkim fields of a rotation state, beside the active key's. */
export function rotationStatus(state: RotationState): Pick<DkimStatus, 'since' | 'rotateNow' | 'pending' | 'retiring'> {
  return {
    ...(state.since ? { since: state.since } : {}),
    ...(state.rotateNow !== undefined ? { rotateNow: state.rotateNow } : {}),
    ...(state.pending ? { pending: state.pending } : {}),
    ...(state.retiring ? { retiring: state.retiring } : {}),
  };
}

export interface RotationKeys {
  /** Every generated key Secret of the domain, for the decision. */
  readonly keys: RotationKey[];
  readonly pending?: { readonly selector: string; readonly publicKey: KeyObject };
  readonly retiring?: { readonly selector: string; readonly publicKey: KeyObject };
}

/**
 * The domain's key Secrets: listed from the Secret metadata cache, and the pending and retiring
 * ones read through to the API server, since a Secret written a moment ago may not be cached
 * yet and must not look deleted (that would start another rotation).
 */
export async function loadRotationKeys(ctx: ControllerContext, sd: SendingDomain, state: RotationState): Promise<RotationKeys> {
  const { namespace, name, uid } = sd.metadata;
  const keys = new Map<string, RotationKey>();
  const add = (meta: { name?: string; annotations?: Record<string, string>; creationTimestamp?: Date | string } | undefined) => {
    const selector = meta?.annotations?.[annotations.dkimSelector];
    if (!meta?.name || !selector) return;
    const createdAt = meta.annotations?.[annotations.dkimCreatedAt] ?? new Date(meta.creationTimestamp ?? 0).toISOString();
    keys.set(meta.name, { selector, secretName: meta.name, createdAt });
  };
  for (const secret of ctx.caches.secrets.informer.list(namespace)) {
    const meta = secret.metadata;
    if (meta?.labels?.[labelKeys.sendingDomain] !== name || !meta.ownerReferences?.some((o) => o.uid === uid)) continue;
    add(meta);
  }
  const read = async (role: { selector: string; secretName: string } | undefined) => {
    if (!role) return undefined;
    const secret = await ownSecret(ctx, namespace, role.secretName, DKIM_SECRET_KEY);
    const parsed = parseKey(secretString(secret, DKIM_SECRET_KEY) ?? '');
    if (!secret || typeof parsed === 'string') {
      keys.delete(role.secretName);
      return undefined;
    }
    add(secret.metadata);
    return { selector: role.selector, publicKey: parsed.publicKey };
  };
  const pending = await read(state.pending);
  const retiring = await read(state.retiring);
  return { keys: [...keys.values()], ...(pending ? { pending } : {}), ...(retiring ? { retiring } : {}) };
}

/** The effects of a step: a new key Secret, the retired one deleted, and the step's Event. */
export async function applyRotationStep(ctx: ControllerContext, sd: SendingDomain, previous: RotationState, decision: RotationDecision): Promise<void> {
  const pending = decision.next.pending;
  if (decision.step === 'start' && pending) {
    const algorithm = sd.spec.dkim.generate?.algorithm ?? 'rsa-sha256';
    const privateKeyPem = await generateKey(algorithm);
    await ctx.applier.apply(buildDkimSecret(sd, { selector: pending.selector, algorithm, privateKeyPem, createdAt: pending.createdAt }));
  }
  if (decision.step === 'retire' && previous.retiring) {
    await ctx.applier.delete({ apiVersion: 'v1', kind: 'Secret', namespace: sd.metadata.namespace, name: previous.retiring.secretName });
  }
  if (decision.event) ctx.events.record(sd, 'Normal', decision.event.reason, decision.event.message);
  if (decision.step !== 'none') {
    ctx.logger.info('DKIM rotation step', { namespace: sd.metadata.namespace, name: sd.metadata.name, domain: sd.spec.domain, step: decision.step, selector: decision.next.active.selector, pending: pending?.selector });
  }
}
