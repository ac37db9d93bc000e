import { createPublicKey, type KeyObject } from 'node:crypto';
import { Reasons, SendingDomainConditions, type SendingDomain, type SendingDomainStatus } from '../api/v1alpha1/types.ts';
import { buildConditions, type ConditionInput } from '../resources/conditions.ts';
import { buildDkimSecret, DKIM_SECRET_KEY } from '../resources/dkim-secret.ts';
import { buildDnsRecords, type DkimAlgorithm, type DnsRecord } from '../resources/dns-records.ts';
import { annotations } from '../resources/labels.ts';
import type { DomainConflict } from '../resources/domain-conflicts.ts';
import { names } from '../resources/names.ts';
import { decideWebhooksReady } from '../resources/relay-webhooks.ts';
import { ownSecret, relayDomains, secretString, type ControllerContext, type ReconcileResult } from './context.ts';
import { bulkSenderInputsOf, decideBulkSenderReadiness } from './bulk-sender-readiness.ts';
import type { RecordCheck } from './dns-verifier.ts';
import { generateKey, parseKey } from './dkim-keys.ts';
import { decideRotation, parseRotationPolicy, type RotationDecision, type RotationState } from './dkim-rotation.ts';
import { applyRotationStep, loadRotationKeys, rotationStateOf, rotationStatus, type RotationKeys } from './dkim-rotation-keys.ts';
import { readWebhookKeys } from './webhook-keys.ts';
import { ratesOf, type DomainFigures } from './relay-figures.ts';
import { ensureFleetPause, ensureSpecPause, type FleetDecision } from './relay-wide-pause.ts';

type DkimState =
  | { readonly ready: true; readonly selector: string; readonly secretName: string; readonly key: string; readonly algorithm: DkimAlgorithm; readonly publicKey: KeyObject; readonly reason: string; readonly message: string }
  | { readonly ready: false; readonly reason: string; readonly message: string };

/** Last DNS check per SendingDomain: records are looked up again when they change or the interval passes. */
export interface DnsCheckState {
  readonly at: number;
  readonly fingerprint: string;
  readonly results: readonly RecordCheck[];
}

/**
 * Reconciles one SendingDomain: makes sure its DKIM key exists (generated once and kept, or the
 * user's own), publishes the DNS records to create in status, checks them through DNS, and sets
 * the conditions. The relay picks the key up through its own reconcile, triggered by this status.
 */
export async function reconcileSendingDomain(ctx: ControllerContext, dnsState: Map<string, DnsCheckState>, namespace: string, name: string): Promise<ReconcileResult> {
  const key = `${namespace}/${name}`;
  const sd = ctx.caches.domains.get(namespace, name);
  if (!sd) {
    dnsState.delete(key);
    return {};
  }
  const relay = ctx.caches.relays.get(namespace, sd.spec.relayRef.name);
  const policy = parseRotationPolicy(sd);
  // With rotation the key that signs is the one status names; spec.dkim.selector only the first.
  let dkim = await ensureDkimKey(ctx, sd, policy && sd.status?.dkim?.selector ? sd.status.dkim.selector : sd.spec.dkim.selector);
  let state: RotationState | undefined = policy && dkim.ready ? rotationStateOf(sd, dkim) : undefined;
  let keys = state ? await loadRotationKeys(ctx, sd, state) : undefined;
  const nowMs = ctx.now().getTime();
  const checkRecords = async (dkimNow: DkimState, rotation: RotationKeys | undefined) => {
    const records = buildDnsRecords(sd, {
      dkim: dkimNow.ready ? { selector: dkimNow.selector, publicKey: dkimNow.publicKey } : undefined,
      ...(rotation ? { rotation } : {}),
      relayHostname: relay?.spec.hostname,
    });
    const fingerprint = records.map((r) => `${r.name}\0${r.value}`).join('\n');
    let checked = dnsState.get(key);
    if (!checked || checked.fingerprint !== fingerprint || nowMs - checked.at >= ctx.settings.dnsCheckIntervalMs) {
      checked = { at: nowMs, fingerprint, results: await Promise.all(records.map((r) => ctx.dns.check(r))) };
      dnsState.set(key, checked);
    }
    return { records, checked };
  };
  let { records, checked } = await checkRecords(dkim, keys);

  let rotation: RotationDecision | undefined;
  if (policy && state && keys) {
    const pendingAt = records.findIndex((r) => r.state === 'Pending');
    rotation = decideRotation({ sendingDomain: name, domain: sd.spec.domain, policy, state, keys: keys.keys, pendingCheck: checked.results[pendingAt], now: ctx.now() });
    if (rotation.step !== 'none') {
      await applyRotationStep(ctx, sd, state, rotation);
      state = rotation.next;
      if (dkim.ready && state.active.selector !== dkim.selector) dkim = await ensureDkimKey(ctx, sd, state.active.selector);
      keys = await loadRotationKeys(ctx, sd, state);
      ({ records, checked } = await checkRecords(dkim, keys));
    }
  }
  const verifiedRecords: DnsRecord[] = records.map((r, i) => ({ ...r, verified: checked.results[i]!.outcome === 'published', result: checked.results[i]!.result }));

  const generation = sd.metadata.generation ?? 0;
  const figures = ctx.reputation.get(namespace, sd.spec.relayRef.name, sd.spec.domain);
  const relayWide = await ensureRelayWide(ctx, sd, relay !== undefined);
  const ready = readyCondition(sd, relay !== undefined, dkim, relayDomains(ctx, namespace, sd.spec.relayRef.name).conflicts.get(name));
  const wasReady = sd.status?.conditions?.find((c) => c.type === SendingDomainConditions.Ready);
  if (ready.reason === Reasons.DomainConflict && wasReady?.reason !== Reasons.DomainConflict) ctx.events.record(sd, 'Warning', Reasons.DomainConflict, ready.message);
  const webhooks: ConditionInput = { type: SendingDomainConditions.WebhooksReady, ...decideWebhooksReady(await readWebhookKeys(ctx, namespace, sd.spec.webhooks)) };
  const wereWebhooks = sd.status?.conditions?.find((c) => c.type === SendingDomainConditions.WebhooksReady);
  if (webhooks.status === 'False' && (wereWebhooks?.status !== 'False' || wereWebhooks.message !== webhooks.message)) ctx.events.record(sd, 'Warning', webhooks.reason, webhooks.message);
  const conditions: ConditionInput[] = [
    ready,
    dkim.ready && rotation?.reason
      ? { type: SendingDomainConditions.DKIMKeyReady, status: 'True', reason: rotation.reason, message: rotation.message }
      : { type: SendingDomainConditions.DKIMKeyReady, status: dkim.ready ? 'True' : 'False', reason: dkim.reason, message: dkim.message },
    dnsCondition(verifiedRecords, checked.results),
    webhooks,
    pausedCondition(sd, figures, relayWide.decision),
    {
      type: SendingDomainConditions.BulkSenderReady,
      ...decideBulkSenderReadiness(
        bulkSenderInputsOf(sd, relay, records, checked.results, {
          complaintRate: figures ? ratesOf(figures.window).complaintRate : sd.status?.reputation?.complaintRate,
          deliveryTls: ctx.reputation.deliveryTls(namespace, sd.spec.relayRef.name),
        }),
      ),
    },
  ];
  const status: SendingDomainStatus = {
    observedGeneration: generation,
    ...(dkim.ready ? { dkim: { secretName: dkim.secretName, key: dkim.key, selector: dkim.selector, algorithm: dkim.algorithm, ...(state ? rotationStatus(state) : {}) } } : {}),
    dnsRecords: verifiedRecords,
    ...(figures ? { reputation: buildReputationStatus(figures) } : sd.status?.reputation ? { reputation: sd.status.reputation } : {}),
    ...(figures && figures.categories.size > 0 ? { categories: buildCategoriesStatus(figures) } : sd.status?.categories ? { categories: sd.status.categories } : {}),
    conditions: buildConditions(sd.status?.conditions, conditions, generation, ctx.now().toISOString().replace(/\.\d{3}Z$/, 'Z')),
  };
  await ctx.applier.applyStatus({ apiVersion: sd.apiVersion, kind: sd.kind, metadata: { name, namespace }, status }, { live: sd });
  // The next rotation step may fall due before the next DNS check (never after: that bounds the timer).
  const dnsDue = Math.max(1000, checked.at + ctx.settings.dnsCheckIntervalMs - nowMs);
  const next = Math.max(1000, Math.min(dnsDue, rotation?.requeueAfterMs ?? dnsDue));
  return { requeueAfterMs: relayWide.complete ? next : Math.min(next, RELAY_WIDE_RETRY_MS) };
}

/** A pod that missed a relay-wide push gets it again this soon (and at every poll that changes something). */
const RELAY_WIDE_RETRY_MS = 5000;

/**
 * The relay-wide pause on the sums of every pod, and spec.paused, pushed to the relay's pods
 * (docs/design.md "Relay-wide reputation"). A domain left out of the relay's config is not sent
 * for, so nothing is pushed for it.
 */
async function ensureRelayWide(ctx: ControllerContext, sd: SendingDomain, relayFound: boolean): Promise<{ decision: FleetDecision | undefined; complete: boolean }> {
  const { namespace } = sd.metadata;
  const relay = sd.spec.relayRef.name;
  if (!relayFound || relayDomains(ctx, namespace, relay).conflicts.has(sd.metadata.name)) return { decision: undefined, complete: true };
  const pods = ctx.reputation.pods(namespace, relay, sd.spec.domain);
  const fleet = pods.length > 0 ? await ensureFleetPause(ctx, sd, pods) : { decision: undefined, complete: true };
  const spec = await ensureSpecPause(ctx, sd);
  return { decision: fleet.decision, complete: fleet.complete && spec };
}

function pausedCondition(sd: SendingDomain, figures: DomainFigures | undefined, decision: FleetDecision | undefined): ConditionInput {
  const type = SendingDomainConditions.Paused;
  if (sd.spec.paused) return { type, status: 'True', reason: Reasons.PausedBySpec, message: 'spec.paused is true: new mail is refused and queued mail is held' };
  if (decision?.pause) {
    const since = new Date(decision.pause.since).toISOString();
    return {
      type,
      status: 'True',
      reason: Reasons.ReputationBreach,
      message: `paused on every relay pod since ${since}: ${decision.pause.reason} (sums over the pods since the last resume); new mail is refused, queued mail held until resumed (POST /v1/domains/${sd.spec.domain}/resume)`,
    };
  }
  if (figures && figures.pausedPods > 0) {
    // a pod that paused on its own figures while the operator was away, until resumed
    return { type, status: 'True', reason: Reasons.ReputationBreach, message: `paused by ${figures.pausedPods} of ${figures.pods} relay pods on their own figures; resume to lift it` };
  }
  return { type, status: 'False', reason: Reasons.NotPaused, message: 'the domain may send' };
}

/**
 * The relay's 24 h window: every pod's counts summed, rates from the sums. Rates rounded so
 * that noise in the last digits does not cost a status write. Pure.
 */
export function buildReputationStatus(f: DomainFigures): NonNullable<SendingDomainStatus['reputation']> {
  const round = (n: number) => Math.round(n * 10_000) / 10_000;
  const rates = ratesOf(f.window);
  return {
    bounceRate: round(rates.bounceRate),
    complaintRate: round(rates.complaintRate),
    deferralRate: round(rates.deferralRate),
    sent: f.window.sent,
    delivered: f.window.delivered,
    deferred: f.window.deferred,
    bounced: f.window.bounced,
    complaints: f.window.complained,
    pausedPods: f.pausedPods,
    pods: f.pods,
  };
}

/**
 * `status.categories` (issue #14): each category's 24 h window summed over the pods, rates from
 * the sums, sorted by name. Pure.
 */
export function buildCategoriesStatus(f: DomainFigures): Array<{ name: string; sent: number; delivered: number; deferred: number; bounced: number; complained: number; bounceRate: number; complaintRate: number }> {
  const round = (n: number) => Math.round(n * 10_000) / 10_000;
  return [...f.categories]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, c]) => {
      const rates = ratesOf(c);
      return { name, sent: c.sent, delivered: c.delivered, deferred: c.deferred, bounced: c.bounced, complained: c.complained, bounceRate: round(rates.bounceRate), complaintRate: round(rates.complaintRate) };
    });
}

function readyCondition(sd: SendingDomain, relayFound: boolean, dkim: DkimState, conflict: DomainConflict | undefined): ConditionInput {
  const type = SendingDomainConditions.Ready;
  if (!relayFound) return { type, status: 'False', reason: Reasons.RelayNotFound, message: `MailRelay ${sd.spec.relayRef.name} does not exist in namespace ${sd.metadata.namespace}` };
  if (conflict) {
    return {
      type,
      status: 'False',
      reason: Reasons.DomainConflict,
      message: `SendingDomain ${conflict.winner} (created earlier) already sends for ${conflict.domain} on MailRelay ${sd.spec.relayRef.name}; this one is left out of the relay's config until that one is deleted`,
    };
  }
  if (!dkim.ready) return { type, status: 'False', reason: dkim.reason, message: dkim.message };
  return { type, status: 'True', reason: Reasons.Reconciled, message: `MailRelay ${sd.spec.relayRef.name} sends for ${sd.spec.domain} with DKIM selector ${dkim.selector}` };
}

/** The worst finding names the reason: a failed lookup, then a wrong record, then a missing one. */
function dnsCondition(records: readonly DnsRecord[], checks: readonly RecordCheck[]): ConditionInput {
  const type = SendingDomainConditions.DNSVerified;
  const failed = records.filter((r) => !r.verified);
  if (failed.length === 0) return { type, status: 'True', reason: Reasons.RecordsVerified, message: `${records.length} records published` };
  const message = failed.map((r) => `${r.purpose}: ${r.result}`).join('; ');
  const outcomes = new Set(checks.map((c) => c.outcome));
  const reason = outcomes.has('failed') ? Reasons.LookupFailed : outcomes.has('mismatch') ? Reasons.RecordMismatch : Reasons.RecordsMissing;
  return { type, status: 'False', reason, message };
}

/** `selector`: of the key that signs; spec.dkim.selector unless a rotation has moved on. */
async function ensureDkimKey(ctx: ControllerContext, sd: SendingDomain, selector: string): Promise<DkimState> {
  const { namespace } = sd.metadata;
  const ref = sd.spec.dkim.secretRef;
  if (ref) {
    const secret = await ctx.caches.secrets.get(namespace, ref.name);
    const pem = secretString(secret, ref.key);
    if (!secret || pem === undefined) return { ready: false, reason: Reasons.SecretNotFound, message: `Secret ${ref.name} with key ${ref.key} not found` };
    const parsed = parseKey(pem);
    if (typeof parsed === 'string') return { ready: false, reason: Reasons.InvalidKey, message: `Secret ${ref.name} key ${ref.key}: ${parsed}` };
    return { ready: true, selector, secretName: ref.name, key: ref.key, ...parsed, reason: Reasons.KeyProvided, message: `using ${parsed.algorithm} key from Secret ${ref.name}` };
  }

  const secretName = names.dkimSecret(sd.metadata.name, selector);
  const live = await ownSecret(ctx, namespace, secretName, DKIM_SECRET_KEY);
  const livePem = secretString(live, DKIM_SECRET_KEY) ?? '';
  const existing = parseKey(livePem);
  // With rotation a new algorithm comes with the next key: the one that signs is never replaced in place.
  const wanted = sd.spec.dkim.generate?.algorithm ?? 'rsa-sha256';
  const algorithm = sd.spec.dkim.rotation && typeof existing !== 'string' ? existing.algorithm : wanted;
  let pem: string;
  let generated = false;
  if (typeof existing !== 'string' && existing.algorithm === algorithm) {
    pem = livePem;
  } else {
    pem = await generateKey(algorithm);
    generated = true;
  }
  const createdAt = live?.metadata?.annotations?.[annotations.dkimCreatedAt] ?? (generated ? ctx.now().toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined);
  await ctx.applier.apply(buildDkimSecret(sd, { selector, algorithm, privateKeyPem: pem, ...(createdAt ? { createdAt } : {}) }), { live });
  if (generated) ctx.events.record(sd, 'Normal', Reasons.KeyGenerated, `generated ${algorithm} DKIM key for selector ${selector} in Secret ${secretName}`);
  return {
    ready: true,
    selector,
    secretName,
    key: DKIM_SECRET_KEY,
    algorithm,
    publicKey: createPublicKey(pem),
    reason: Reasons.KeyGenerated,
    message: `${algorithm} key in Secret ${secretName}`,
  };
}
