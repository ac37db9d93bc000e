/** MailRelay and SendingDomain objects as the API server returns them (defaults filled in), for builder tests. */
import type { MailRelay, SendingDomain } from '../api/v1alpha1/types.ts';

export function sampleRelay(overrides: Partial<MailRelay['spec']> = {}): MailRelay {
  return {
    apiVersion: 'mailrelay.dev/v1alpha1',
    kind: 'MailRelay',
    metadata: { name: 'outbound', namespace: 'mail', uid: '0c0ffee0-0000-4000-8000-000000000001', generation: 3 },
    spec: {
      replicas: 2,
      hostname: 'relay.example.com',
      listeners: [
        { name: 'submission', port: 587, tls: 'starttls', auth: 'required', submission: true },
        { name: 'smtps', port: 465, tls: 'implicit', auth: 'required', submission: true },
        { name: 'internal', port: 2525, tls: 'none', auth: 'none', submission: false },
      ],
      tls: { secretName: 'outbound-tls', minVersion: 'TLSv1.2' },
      auth: { usersSecretName: 'outbound-users', trustedNetworks: ['10.0.0.0/8'] },
      delivery: { mode: 'mx', resolvers: [], maxConnections: 200, perDestination: { maxConnections: 10, maxMessagesPerSecond: 0 } },
      queue: { storage: { size: '5Gi' }, retrySchedule: ['1m', '5m', '15m', '30m', '1h', '2h', '4h'], maxAge: '5d' },
      limits: { maxMessageSize: '25Mi', maxRecipients: 100, maxConnections: 1000, maxConnectionsPerClient: 50, maxConnectionRatePerClient: 300, maxErrorsPerSession: 10 },
      http: { enabled: true, port: 8080, tokensSecretName: 'outbound-api-tokens' },
      suppression: { expiry: '30d' },
      service: { type: 'ClusterIP', annotations: {} },
      pod: { resources: { requests: { cpu: '100m', memory: '128Mi' } } },
      networkPolicy: { enabled: false, ingressFrom: [], metricsFrom: [] },
      ...overrides,
    },
  };
}

export function sampleDomain(name: string, domain: string, overrides: Partial<SendingDomain['spec']> = {}): SendingDomain {
  return {
    apiVersion: 'mailrelay.dev/v1alpha1',
    kind: 'SendingDomain',
    metadata: { name, namespace: 'mail', uid: `0c0ffee0-0000-4000-8000-${name.length.toString().padStart(12, '0')}`, generation: 1 },
    spec: {
      domain,
      relayRef: { name: 'outbound' },
      dkim: { selector: 'mr2026', generate: { algorithm: 'rsa-sha256' } },
      allowedSenders: [],
      bulk: false,
      paused: false,
      reputation: { maxBounceRate: 0.1, maxComplaintRate: 0.003, minVolume: 100, pauseOnBreach: true },
      dns: { spfInclude: [], dmarcPolicy: 'none' },
      ...overrides,
    },
  };
}
