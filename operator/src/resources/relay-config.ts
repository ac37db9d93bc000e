import { stringify } from 'yaml';
import type { RelayConfigFile } from '../../../relay/src/config/schema.ts';
import type { MailRelay, SendingDomain } from '../api/v1alpha1/types.ts';
import { paths, ports } from './names.ts';
import { buildWebhookFiles, RELAY_SCOPE, type Webhook, type WebhookFile } from './relay-webhooks.ts';

/** A SendingDomain as the relay config needs it: its DKIM key only once the key is ready. */
export interface RelayDomain {
  readonly spec: SendingDomain['spec'];
  readonly dkim?: { readonly selector: string; readonly algorithm: 'rsa-sha256' | 'ed25519-sha256' };
  /** Its webhooks whose signing keys are there (the others are left out until they are). */
  readonly webhooks?: readonly Webhook[];
}

/** `domains[].categories`: a name, or an object when the category is bulk or has thresholds of its own. */
export type CategoryFile = string | { name: string; bulk: boolean; reputation?: NonNullable<SendingDomain['spec']['categories']>[number]['reputation'] };

type DomainFile = Omit<NonNullable<RelayConfigFile['domains']>[number], 'webhooks' | 'categories'> & { webhooks?: WebhookFile[]; categories?: CategoryFile[] };

/**
 * relay.yaml as the operator renders it: the shared contract plus the event keys (top-level
 * `webhooks` and `events`, `domains[].webhooks` and `domains[].categories`, docs/relay-config.md).
 */
export type RenderedRelayConfig = Omit<RelayConfigFile, 'domains' | 'webhooks' | 'events'> & {
  domains?: DomainFile[];
  webhooks?: WebhookFile[];
  events?: { maxBacklog: string };
};

export interface RelayConfigContext {
  readonly domains: readonly RelayDomain[];
  /** From the smarthost credentials Secret; the password itself stays in a mounted file. */
  readonly smarthostUsername?: string;
}

/**
 * A key's file in Secret `<relay>-dkim`: the selector is part of the name, so relay.yaml and the
 * key file switch together however far apart the kubelet updates the ConfigMap and the Secret.
 */
export function dkimKeyFile(domain: string, selector: string): string {
  return `${domain}.${selector}.key`;
}

export function dkimKeyPath(domain: string, selector: string): string {
  return `${paths.dkimDir}/${dkimKeyFile(domain, selector)}`;
}

/** relay.yaml for a MailRelay and the SendingDomains that reference it. Pure. */
export function buildRelayConfig(relay: MailRelay, ctx: RelayConfigContext): RenderedRelayConfig {
  const { spec } = relay;
  const domains = [...ctx.domains].sort((a, b) => a.spec.domain.localeCompare(b.spec.domain));
  const smarthost = spec.delivery.mode === 'smarthost' ? spec.delivery.smarthost : undefined;
  const config: RenderedRelayConfig = {
    hostname: spec.hostname,
    listeners: spec.listeners.map((l) => ({
      name: l.name,
      address: '0.0.0.0',
      port: ports.container(l.port),
      tls: l.tls,
      auth: l.auth,
      submission: l.submission,
    })),
    trustedNetworks: [...spec.auth.trustedNetworks],
    limits: {
      maxMessageSize: spec.limits.maxMessageSize,
      maxRecipients: spec.limits.maxRecipients,
      maxConnections: spec.limits.maxConnections,
      maxConnectionsPerClient: spec.limits.maxConnectionsPerClient,
      maxConnectionRatePerClient: spec.limits.maxConnectionRatePerClient,
      maxErrorsPerSession: spec.limits.maxErrorsPerSession,
    },
    queue: { dir: paths.spoolDir, retrySchedule: [...spec.queue.retrySchedule], maxAge: spec.queue.maxAge },
    delivery: {
      mode: spec.delivery.mode,
      resolvers: [...spec.delivery.resolvers],
      maxConnections: spec.delivery.maxConnections,
      perDestination: { ...spec.delivery.perDestination },
    },
    domains: domains.map(({ spec: d, dkim, webhooks }) => ({
      name: d.domain,
      ...(dkim ? { dkim: { selector: dkim.selector, privateKeyFile: dkimKeyPath(d.domain, dkim.selector), algorithm: dkim.algorithm } } : {}),
      paused: d.paused,
      reputation: { ...d.reputation },
      ...(d.bulk ? { bulk: true } : {}),
      ...(d.categories?.length ? { categories: d.categories.map(buildCategoryFile) } : {}),
      ...(webhooks?.length ? { webhooks: buildWebhookFiles(d.domain, webhooks) } : {}),
    })),
    suppression: { expiry: spec.suppression.expiry },
    metrics: { address: '0.0.0.0', port: ports.metrics },
    // the queue admin socket in the spool, so `kubectl exec <pod> -- mail-relay queue list` works,
    // and over TCP with a token for the operator (pause, drain) and the relay's peers (handoff)
    admin: { address: '0.0.0.0', port: ports.admin, tokenFile: paths.adminTokenFile },
  };
  if (spec.feedback?.verpDomain || spec.feedback?.complaintAddress) {
    config.feedback = {
      ...(spec.feedback.verpDomain ? { verpDomain: spec.feedback.verpDomain, verpKeyFile: paths.verpKeyFile } : {}),
      ...(spec.feedback.complaintAddress ? { complaintAddress: spec.feedback.complaintAddress } : {}),
    };
  }
  if (spec.unsubscribe) {
    config.unsubscribe = {
      url: spec.unsubscribe.url,
      keyFile: paths.unsubscribeKeyFile,
      address: '0.0.0.0',
      port: ports.unsubscribe,
      ...(spec.unsubscribe.mailto ? { mailto: spec.unsubscribe.mailto } : {}),
    };
  }
  if (spec.webhooks?.length) config.webhooks = buildWebhookFiles(RELAY_SCOPE, spec.webhooks);
  if (spec.events) config.events = { maxBacklog: spec.events.maxBacklog };
  if (spec.tls) {
    config.tls = {
      certFile: `${paths.tlsDir}/tls.crt`,
      keyFile: `${paths.tlsDir}/tls.key`,
      minVersion: spec.tls.minVersion,
      ...(spec.tls.ciphers ? { ciphers: spec.tls.ciphers } : {}),
    };
  }
  if (spec.auth.usersSecretName) config.usersFile = paths.usersFile;
  if (smarthost && config.delivery) {
    config.delivery.smarthost = {
      host: smarthost.host,
      port: smarthost.port,
      tls: smarthost.tls,
      ...(smarthost.credentialsSecretName && ctx.smarthostUsername
        ? { username: ctx.smarthostUsername, passwordFile: `${paths.smarthostDir}/password` }
        : {}),
    };
  }
  if (spec.http.enabled) {
    config.http = { address: '0.0.0.0', port: spec.http.port, ...(spec.http.tokensSecretName ? { tokensFile: paths.tokensFile } : {}) };
  }
  return config;
}

/** The short form when the category has nothing but its name, as people write it by hand. */
function buildCategoryFile(c: NonNullable<SendingDomain['spec']['categories']>[number]): CategoryFile {
  const reputation = c.reputation && Object.keys(c.reputation).length > 0 ? { ...c.reputation } : undefined;
  if (!c.bulk && !reputation) return c.name;
  return { name: c.name, bulk: c.bulk, ...(reputation ? { reputation } : {}) };
}

export function renderRelayConfig(config: RenderedRelayConfig): string {
  return `# Rendered by mail-relay-operator from MailRelay and SendingDomain resources. Do not edit.\n${stringify(config, { lineWidth: 0 })}`;
}
