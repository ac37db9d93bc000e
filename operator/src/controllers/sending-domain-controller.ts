import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { Reasons, SendingDomainConditions, type SendingDomain, type SendingDomainStatus } from '../api/v1alpha1/types.ts';
import { buildConditions, type ConditionInput } from '../resources/conditions.ts';
import { buildDkimSecret, DKIM_SECRET_KEY } from '../resources/dkim-secret.ts';
import { buildDnsRecords, dkimAlgorithmOf, type DkimAlgorithm, type DnsRecord } from '../resources/dns-records.ts';
import type { DomainConflict } from '../resources/domain-conflicts.ts';
import { names } from '../resources/names.ts';
import { ownSecret, relayDomains, secretString, type ControllerContext, type ReconcileResult } from './context.ts';
import type { RecordCheck } from './dns-verifier.ts';
import { ratesOf, type DomainFigures } from './relay-figures.ts';
import { ensureFleetPause, ensureSpecPause, type FleetDecision } from './relay-wide-pause.ts';

type DkimState =
  | { readonly ready: true; readonly secretName: string; readonly key: string; readonly algorithm: DkimAlgorithm; readonly publicKey: KeyObject; readonly reason: string; readonly message: string }
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
  const dkim = await ensureDkimKey(ctx, sd);
  const records = buildDnsRecords(sd, {
    dkim: dkim.ready ? { selector: sd.spec.dkim.selector, publicKey: dkim.publicKey } : undefined,
    relayHostname: relay?.spec.hostname,
  });

  const fingerprint = records.map((r) => `${r.name}\0${r.value}`).join('\n');
  const nowMs = ctx.now().getTime();
  let checked = dnsState.get(key);
  if (!checked || checked.fingerprint !== fingerprint || nowMs - checked.at >= ctx.settings.dnsCheckIntervalMs) {
    checked = { at: nowMs, fingerprint, results: await Promise.all(records.map((r) => ctx.dns.check(r))) };
    dnsState.set(key, checked);
  }
  const verifiedRecords: DnsRecord[] = records.map((r, i) => ({ ...r, verified: checked.results[i]!.outcome === 'published', result: checked.results[i]!.result }));

  const generation = sd.metadata.generation ?? 0;
  const figures = ctx.reputation.get(namespace, sd.spec.relayRef.name, sd.spec.domain);
  const relayWide = await ensureRelayWide(ctx, sd, relay !== undefined);
  const ready = readyCondition(sd, relay !== undefined, dkim, relayDomains(ctx, namespace, sd.spec.relayRef.name).conflicts.get(name));
  const wasReady = sd.status?.conditions?.find((c) => c.type === SendingDomainConditions.Ready);
  if (ready.reason === Reasons.DomainConflict && wasReady?.reason !== Reasons.DomainConflict) ctx.events.record(sd, 'Warning', Reasons.DomainConflict, ready.message);
  const conditions: ConditionInput[] = [
    ready,
    { type: SendingDomainConditions.DKIMKeyReady, status: dkim.ready ? 'True' : 'False', reason: dkim.reason, message: dkim.message },
    dnsCondition(verifiedRecords, checked.results),
    pausedCondition(sd, figures, relayWide.decision),
  ];
  const status: SendingDomainStatus = {
    observedGeneration: generation,
    ...(dkim.ready ? { dkim: { secretName: dkim.secretName, key: dkim.key, selector: sd.spec.dkim.selector, algorithm: dkim.algorithm } } : {}),
    dnsRecords: verifiedRecords,
    ...(figures ? { reputation: buildReputationStatus(figures) } : sd.status?.reputation ? { reputation: sd.status.reputation } : {}),
    conditions: buildConditions(sd.status?.conditions, conditions, generation, ctx.now().toISOString().replace(/\.\d{3}Z$/, 'Z')),
  };
  await ctx.applier.applyStatus({ apiVersion: sd.apiVersion, kind: sd.kind, metadata: { name, namespace }, status }, { live: sd });
  const dnsDue = Math.max(1000, checked.at + ctx.settings.dnsCheckIntervalMs - nowMs);
  return { requeueAfterMs: relayWide.complete ? dnsDue : Math.min(dnsDue, RELAY_WIDE_RETRY_MS) };
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
 * the sums, sorted by name. Pure; written once the CRD declares the field.
 */
export function buildCategoriesStatus(f: DomainFigures): Array<{ name: string; sent: number; delivered: number; deferred: number; bounced: number; complaints: number; bounceRate: number; complaintRate: number }> {
  const round = (n: number) => Math.round(n * 10_000) / 10_000;
  return [...f.categories]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, c]) => {
      const rates = ratesOf(c);
      return { name, sent: c.sent, delivered: c.delivered, deferred: c.deferred, bounced: c.bounced, complaints: c.complained, bounceRate: round(rates.bounceRate), complaintRate: round(rates.complaintRate) };
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
  return { type, status: 'True', reason: Reasons.Reconciled, message: `MailRelay ${sd.spec.relayRef.name} sends for ${sd.spec.domain} with DKIM selector ${sd.spec.dkim.selector}` };
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

async function ensureDkimKey(ctx: ControllerContext, sd: SendingDomain): Promise<DkimState> {
  const { namespace } = sd.metadata;
  const ref = sd.spec.dkim.secretRef;
  if (ref) {
    const secret = await ctx.caches.secrets.get(namespace, ref.name);
    const pem = secretString(secret, ref.key);
    if (!secret || pem === undefined) return { ready: false, reason: Reasons.SecretNotFound, message: `Secret ${ref.name} with key ${ref.key} not found` };
    const parsed = parseKey(pem);
    if (typeof parsed === 'string') return { ready: false, reason: Reasons.InvalidKey, message: `Secret ${ref.name} key ${ref.key}: ${parsed}` };
    return { ready: true, secretName: ref.name, key: ref.key, ...parsed, reason: Reasons.KeyProvided, message: `using ${parsed.algorithm} key from Secret ${ref.name}` };
  }

  const algorithm = sd.spec.dkim.generate?.algorithm ?? 'rsa-sha256';
  const secretName = names.dkimSecret(sd.metadata.name, sd.spec.dkim.selector);
  const live = await ownSecret(ctx, namespace, secretName, DKIM_SECRET_KEY);
  const livePem = secretString(live, DKIM_SECRET_KEY) ?? '';
  const existing = parseKey(livePem);
  let pem: string;
  let generated = false;
  if (typeof existing !== 'string' && existing.algorithm === algorithm) {
    pem = livePem;
  } else {
    pem = await generateKey(algorithm);
    generated = true;
  }
  await ctx.applier.apply(buildDkimSecret(sd, algorithm, pem), { live });
  if (generated) ctx.events.record(sd, 'Normal', Reasons.KeyGenerated, `generated ${algorithm} DKIM key for selector ${sd.spec.dkim.selector} in Secret ${secretName}`);
  return {
    ready: true,
    secretName,
    key: DKIM_SECRET_KEY,
    algorithm,
    publicKey: createPublicKey(pem),
    reason: Reasons.KeyGenerated,
    message: `${algorithm} key in Secret ${secretName}`,
  };
}

/** Off the event loop: an RSA 2048 key takes tens of milliseconds, and hundreds may be due at once. */
function generateKey(algorithm: DkimAlgorithm): Promise<string> {
  const encoding = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: string, privateKey: string) => (err ? reject(err) : resolve(privateKey));
    if (algorithm === 'ed25519-sha256') generateKeyPair('ed25519', encoding, done);
    else generateKeyPair('rsa', { modulusLength: 2048, ...encoding }, done);
  });
}

function parseKey(pem: string): { algorithm: DkimAlgorithm; publicKey: KeyObject } | string {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    return 'not a PEM private key';
  }
  const algorithm = dkimAlgorithmOf(key);
  if (!algorithm) return `${key.asymmetricKeyType} keys cannot sign DKIM; use RSA or Ed25519`;
  // RFC 8301: verifiers must reject RSA keys shorter than 1024 bits.
  if (algorithm === 'rsa-sha256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 1024) return 'RSA keys must have at least 1024 bits (RFC 8301)';
  return { algorithm, publicKey: createPublicKey(key) };
}

