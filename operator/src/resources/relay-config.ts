import { stringify } from 'yaml';
import type { RelayConfigFile } from '../../../relay/src/config/schema.ts';
import type { MailRelay, SendingDomain } from '../api/v1alpha1/types.ts';
import { paths, ports } from './names.ts';

/** A SendingDomain as the relay config needs it: its DKIM key only once the key is ready. */
export interface RelayDomain {
  readonly spec: SendingDomain['spec'];
  readonly dkim?: { readonly selector: string; readonly algorithm: 'rsa-sha256' | 'ed25519-sha256' };
}

export interface RelayConfigContext {
  readonly domains: readonly RelayDomain[];
  /** From the smarthost credentials Secret; the password itself stays in a mounted file. */
  readonly smarthostUsername?: string;
}

export function dkimKeyPath(domain: string): string {
  return `${paths.dkimDir}/${domain}.key`;
}

/** relay.yaml for a MailRelay and the SendingDomains that reference it. Pure. */
export function buildRelayConfig(relay: MailRelay, ctx: RelayConfigContext): RelayConfigFile {
  const { spec } = relay;
  const domains = [...ctx.domains].sort((a, b) => a.spec.domain.localeCompare(b.spec.domain));
  const smarthost = spec.delivery.mode === 'smarthost' ? spec.delivery.smarthost : undefined;
  const config: RelayConfigFile = {
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
    domains: domains.map(({ spec: d, dkim }) => ({
      name: d.domain,
      ...(dkim ? { dkim: { selector: dkim.selector, privateKeyFile: dkimKeyPath(d.domain), algorithm: dkim.algorithm } } : {}),
      paused: d.paused,
      reputation: { ...d.reputation },
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

export function renderRelayConfig(config: RelayConfigFile): string {
  return `# Rendered by mail-relay-operator from MailRelay and SendingDomain resources. Do not edit.\n${stringify(config, { lineWidth: 0 })}`;
}
