import { Reasons } from '../api/v1alpha1/types.ts';
import { describeError } from '../errors.ts';
import { decideWebhookKey, type Webhook, type WebhookKey } from '../resources/relay-webhooks.ts';
import type { ControllerContext } from './context.ts';

/**
 * The key file of each webhook, read from its Secret. One at a time: webhooks often share a
 * Secret, and the store fetches a body once. A refusal by the API server (Forbidden, say) is a
 * problem of that webhook, with the server's words, not a failed reconcile.
 */
export async function readWebhookKeys(ctx: ControllerContext, namespace: string, webhooks: readonly Webhook[] | undefined): Promise<{ webhook: Webhook; key: WebhookKey }[]> {
  const out: { webhook: Webhook; key: WebhookKey }[] = [];
  for (const webhook of webhooks ?? []) {
    try {
      out.push({ webhook, key: decideWebhookKey(webhook, await ctx.caches.secrets.get(namespace, webhook.secretRef.name)) });
    } catch (err) {
      out.push({ webhook, key: { ok: false, reason: Reasons.SecretUnreadable, message: `webhook ${webhook.name}: Secret ${webhook.secretRef.name} could not be read: ${describeError(err)}` } });
    }
  }
  return out;
}
