import { createHash } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { Reasons, type MailRelay } from '../api/v1alpha1/types.ts';
import { paths } from './names.ts';

/** A webhook as MailRelay.spec.webhooks and SendingDomain.spec.webhooks declare it (one schema). */
export type Webhook = NonNullable<MailRelay['spec']['webhooks']>[number];

/**
 * The `scope` of MailRelay webhooks (the relay's metric label and the directory of their keys);
 * a SendingDomain's webhooks have its domain. A domain always holds a dot, so never `relay`.
 */
export const RELAY_SCOPE = 'relay';

/** One `webhooks[]` entry of relay.yaml, top level or under `domains[]`. */
export interface WebhookFile {
  name: string;
  url: string;
  secretFile: string;
  events: string[];
  deferrals: Webhook['deferrals'];
  batch?: { maxEvents: number; maxDelay: string };
  retryFor: string;
  timeout: string;
}

/** Where the relay reads a webhook's signing key: one line, and the next key on a second line while rotating. */
export function webhookSecretPath(scope: string, webhook: string): string {
  return `${paths.webhooksDir}/${scope}/${webhook}/secret`;
}

/** Longest key of a Secret's data the API server takes. */
const MAX_SECRET_KEY = 253;

/**
 * The key of the relay's auth Secret that holds this webhook's key file. Webhook names hold no
 * dot, so the last dot ends the scope and no two webhooks share a key. A long domain with a long
 * webhook name would pass the API server's limit and fail the whole Secret, for every tenant of
 * the relay: such a pair gets a digest instead (one dot only, so never a readable key's shape).
 */
export function webhookSecretKey(scope: string, webhook: string): string {
  const readable = `webhook.${scope}.${webhook}`;
  if (readable.length <= MAX_SECRET_KEY) return readable;
  return `webhook.${createHash('sha256').update(`${scope}/${webhook}`).digest('hex').slice(0, 32)}`;
}

/** relay.yaml entries of a scope's webhooks, in the order declared. Pure. */
export function buildWebhookFiles(scope: string, webhooks: readonly Webhook[]): WebhookFile[] {
  return webhooks.map((w) => ({
    name: w.name,
    url: w.url,
    secretFile: webhookSecretPath(scope, w.name),
    events: [...w.events],
    deferrals: w.deferrals,
    ...(w.batch ? { batch: { maxEvents: w.batch.maxEvents, maxDelay: w.batch.maxDelay } } : {}),
    retryFor: w.retryFor,
    timeout: w.timeout,
  }));
}

/** The key file of one webhook, or why there is none. */
export type WebhookKey = { readonly ok: true; readonly file: string } | { readonly ok: false; readonly reason: string; readonly message: string };

/**
 * The file the relay reads for a webhook: the key from its Secret and, with secretRef.nextKey,
 * the next key on a second line. The operator writes it into the relay's auth Secret for every
 * webhook, rotating or not, so starting or ending a rotation changes a file the relay re-reads
 * rather than the pod's volumes (which would roll the pods). Pure.
 */
export function decideWebhookKey(webhook: Webhook, secret: V1Secret | undefined): WebhookKey {
  const { name, key, nextKey } = webhook.secretRef;
  const problem = (reason: string, message: string): WebhookKey => ({ ok: false, reason, message: `webhook ${webhook.name}: ${message}` });
  if (!secret) return problem(Reasons.SecretNotFound, `Secret ${name} not found`);
  const lines: string[] = [];
  for (const [field, k] of [['secretRef.key', key], ['secretRef.nextKey', nextKey]] as const) {
    if (k === undefined) continue;
    const data = secret.data?.[k];
    if (data === undefined) return problem(Reasons.SecretNotFound, `Secret ${name} has no key ${k} (${field})`);
    // A trailing newline is what `kubectl create secret --from-file` leaves; inner ones would split the key in two.
    const value = Buffer.from(data, 'base64').toString('utf8').trim();
    if (value === '') return problem(Reasons.InvalidKey, `key ${k} of Secret ${name} is empty`);
    if (/[\r\n]/.test(value)) return problem(Reasons.InvalidKey, `key ${k} of Secret ${name} holds more than one line; a signing key is one line`);
    lines.push(value);
  }
  return { ok: true, file: `${lines.join('\n')}\n` };
}

/**
 * WebhooksReady of a SendingDomain: True when every webhook has its key file (or none is
 * declared); else False with the first problem's reason and every problem in the message, and
 * those webhooks are left out of relay.yaml. A domain's missing Secret never holds up the relay:
 * other tenants' config changes still apply. Pure.
 */
export function decideWebhooksReady(keys: readonly { readonly webhook: Webhook; readonly key: WebhookKey }[]): { status: 'True' | 'False'; reason: string; message: string } {
  const problems = keys.flatMap(({ key }) => (key.ok ? [] : [key]));
  if (problems.length === 0) {
    return { status: 'True', reason: Reasons.WebhooksConfigured, message: keys.length === 0 ? 'no webhooks declared' : `${keys.length} webhooks have their signing keys` };
  }
  return {
    status: 'False',
    reason: problems[0]!.reason,
    message: `${problems.map((p) => p.message).join('; ')}; left out of the relay's config (no events are sent to ${problems.length === 1 ? 'it' : 'them'}) until fixed`,
  };
}
