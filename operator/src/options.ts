import { hostname } from 'node:os';
import { parseArgs } from 'node:util';

export const DEFAULT_RELAY_IMAGE = 'ghcr.io/mail-relay-operator/mail-relay-operator:0.1.0';

export const HELP = `mail-relay-operator — reconciles MailRelay and SendingDomain resources (mailrelay.dev/v1alpha1)
into relay StatefulSets, their configuration, Secrets, Services and DKIM keys.

Usage:
  mail-relay-operator [flags]

With no flags it uses the current kubeconfig (in-cluster config inside a pod), watches every
namespace and elects a leader through a Lease, so several replicas can run.

Flags (environment variable in brackets):
  --kubeconfig PATH          kubeconfig to use [KUBECONFIG]; default ~/.kube/config or in-cluster
  --namespaces a,b           namespaces to watch [WATCH_NAMESPACES]; empty = all
  --relay-image IMAGE        relay image when a MailRelay names none [RELAY_IMAGE]
                             (default ${DEFAULT_RELAY_IMAGE})
  --resolvers ip[:port],..   DNS servers for checking SendingDomain records [DNS_RESOLVERS]; default the system's
  --dns-check-interval DUR   how often published DNS records are re-checked (default 5m)
  --resync DUR               full relist of every cache (default 10m)
  --reputation-interval DUR  how often relay pods' /metrics are read into SendingDomain status and the relay-wide pause (default 5s)
  --relay-admin-port PORT    port of the relay pods' admin API, for pause and drain (default 8026;
                             a test stack with relay processes on loopback addresses sets its own)
  --workers N                concurrent reconciles (default 4)
  --log-level LEVEL          error, warn, info, debug [LOG_LEVEL] (default info)
  --metrics-address ADDR     address of /metrics, /healthz, /readyz (default 0.0.0.0)
  --metrics-port PORT        (default 8080; 0 picks a free port)
  --leader-elect             take part in leader election (default)
  --no-leader-elect          reconcile without a Lease (one replica only)
  --lease-namespace NS       namespace of the Lease [POD_NAMESPACE] (default: the kubeconfig's, or default)
  --lease-name NAME          (default mail-relay-operator)
  --identity ID              this replica's name in the Lease [POD_NAME] (default host name + pid)
  --lease-duration DUR       how long a Lease holds without renewal (default 15s)
  --renew-deadline DUR       the leader gives up when it cannot renew for this long (default 10s)
  --retry-period DUR         how often to try to acquire or renew (default 2s)
  --help                     this text
  --version                  the version
`;

export interface OperatorOptions {
  readonly kubeconfig?: string;
  readonly namespaces: 'all' | string[];
  readonly relayImage: string;
  readonly resolvers: string[];
  readonly dnsCheckIntervalMs: number;
  readonly resyncMs: number;
  readonly reputationIntervalMs: number;
  readonly relayAdminPort?: number;
  readonly workers: number;
  readonly logLevel: string;
  readonly metricsAddress: string;
  readonly metricsPort: number;
  readonly leaderElect: boolean;
  readonly leaseNamespace?: string;
  readonly leaseName: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly help: boolean;
  readonly version: boolean;
}

export class OptionsError extends Error {
  readonly code = 'EOP_OPTIONS_INVALID';
  constructor(readonly problems: string[]) {
    super(`invalid options:\n  ${problems.join('\n  ')}`);
  }
}

const DURATION = /^(\d+)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Flags override environment variables; every problem is reported at once. */
export function parseOperatorOptions(argv: string[], env: NodeJS.ProcessEnv): OperatorOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowNegative: true,
    options: {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      'relay-image': { type: 'string' },
      resolvers: { type: 'string' },
      'dns-check-interval': { type: 'string' },
      resync: { type: 'string' },
      'reputation-interval': { type: 'string' },
      'relay-admin-port': { type: 'string' },
      workers: { type: 'string' },
      'log-level': { type: 'string' },
      'metrics-address': { type: 'string' },
      'metrics-port': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string' },
      identity: { type: 'string' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  const problems: string[] = [];
  const duration = (flag: string, fallback: string): number => {
    const text = (values[flag as keyof typeof values] as string | undefined) ?? fallback;
    const m = DURATION.exec(text);
    if (!m) {
      problems.push(`--${flag}: must be a duration such as 30s, 5m or 1h`);
      return 0;
    }
    return Number(m[1]) * UNIT_MS[m[2]!]!;
  };
  const integer = (flag: string, text: string, min: number, max: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) problems.push(`--${flag}: must be an integer from ${min} to ${max}`);
    return n;
  };
  const namespaces = list(values.namespaces ?? env.WATCH_NAMESPACES);
  const logLevel = values['log-level'] ?? env.LOG_LEVEL ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) problems.push('--log-level: must be one of error, warn, info, debug');
  const resolvers = list(values.resolvers ?? env.DNS_RESOLVERS);
  for (const r of resolvers) if (!/^(\[[0-9a-fA-F:]+\]|[0-9.]+|[0-9a-fA-F:]+)(:\d+)?$/.test(r)) problems.push(`--resolvers: ${r} is not ip or ip:port`);
  const options: OperatorOptions = {
    kubeconfig: values.kubeconfig,
    namespaces: namespaces.length > 0 ? namespaces : 'all',
    relayImage: values['relay-image'] ?? env.RELAY_IMAGE ?? DEFAULT_RELAY_IMAGE,
    resolvers,
    dnsCheckIntervalMs: duration('dns-check-interval', '5m'),
    resyncMs: duration('resync', '10m'),
    reputationIntervalMs: duration('reputation-interval', '5s'),
    ...(values['relay-admin-port'] !== undefined ? { relayAdminPort: integer('relay-admin-port', values['relay-admin-port'], 1, 65535) } : {}),
    workers: integer('workers', values.workers ?? '4', 1, 64),
    logLevel,
    metricsAddress: values['metrics-address'] ?? '0.0.0.0',
    metricsPort: integer('metrics-port', values['metrics-port'] ?? '8080', 0, 65535),
    leaderElect: values['leader-elect'] ?? true,
    leaseNamespace: values['lease-namespace'] ?? env.POD_NAMESPACE,
    leaseName: values['lease-name'] ?? 'mail-relay-operator',
    identity: values.identity ?? env.POD_NAME ?? `${hostname()}-${process.pid}`,
    leaseDurationMs: duration('lease-duration', '15s'),
    renewDeadlineMs: duration('renew-deadline', '10s'),
    retryPeriodMs: duration('retry-period', '2s'),
    help: values.help ?? false,
    version: values.version ?? false,
  };
  if (options.renewDeadlineMs >= options.leaseDurationMs) problems.push('--renew-deadline: must be shorter than --lease-duration');
  if (options.retryPeriodMs >= options.renewDeadlineMs) problems.push('--retry-period: must be shorter than --renew-deadline');
  if (problems.length > 0) throw new OptionsError(problems);
  return Object.freeze(options);
}
