/**
 * relay.yaml, the one contract between the operator (which renders it) and the relay (which
 * reads it). These are the *parsed* types: durations are milliseconds, sizes are bytes, every
 * default is filled in. The operator imports this module and nothing else from the relay.
 * docs/relay-config.md describes the file format.
 */
import { isIP } from 'node:net';

/**
 * `10.96.0.10`, `127.0.0.1:5353`, `::1` or `[::1]:5353` → host and port: the syntax of
 * `delivery.resolvers`, here because the operator reads it too (its NetworkPolicy egress).
 */
export function parseResolver(text: string): { host: string; port: number } | undefined {
  if (isIP(text) !== 0) return { host: text, port: 53 };
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!match) return undefined;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (isIP(host) === 0 || port < 1 || port > 65535) return undefined;
  return { host, port };
}

export const TLS_MODES = ['none', 'starttls', 'implicit'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export const AUTH_MODES = ['required', 'optional', 'none'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

export const DELIVERY_MODES = ['mx', 'smarthost'] as const;
export type DeliveryMode = (typeof DELIVERY_MODES)[number];

/** `apply`: follow the MTA-STS policies recipient domains publish (RFC 8461); `off`: ignore them. */
export const MTA_STS_MODES = ['apply', 'off'] as const;
export type MtaStsMode = (typeof MTA_STS_MODES)[number];

export const DKIM_ALGORITHMS = ['rsa-sha256', 'ed25519-sha256'] as const;

/** A message category's name (and a tag's alphabet): lower case, so one spelling per metric label. */
export const CATEGORY_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** What undeclared categories, and messages without one, are counted as. */
export const OTHER_CATEGORY = 'other';
/** Declared categories per sending domain: each is a metric label value and a set of counters. */
export const MAX_CATEGORIES = 32;
export type DkimAlgorithm = (typeof DKIM_ALGORITHMS)[number];

/** Kinds of delivery events a webhook may subscribe to (relay/src/events/). */
export const EVENT_TYPES = ['accepted', 'delivered', 'deferred', 'bounced', 'expired', 'complained', 'suppressed', 'rejected', 'unsubscribed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** `every`: one `deferred` event per failed attempt; `first-and-last`: the first, and the last before the final outcome. */
export const DEFERRAL_MODES = ['every', 'first-and-last'] as const;
export type DeferralMode = (typeof DEFERRAL_MODES)[number];

export interface ListenerConfig {
  /** The `listener` metric label. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly tls: TlsMode;
  readonly auth: AuthMode;
  /**
   * Message submission (RFC 6409). Accepted for compatibility; a missing Message-ID: and Date:
   * are now added on every listener (the relay is the first hop of all its intake).
   */
  readonly submission: boolean;
}

export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  readonly minVersion: TlsVersion;
  /** OpenSSL cipher list (TLS 1.2 suites and TLS 1.3 `TLS_*` suites), in the server's order of preference. */
  readonly ciphers: string;
}

export interface LimitsConfig {
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  /** Concurrent SMTP connections across all listeners. */
  readonly maxConnections: number;
  /** Longest silence from a client before the session is closed (ms). */
  readonly idleTimeout: number;
  /** Longest a whole SMTP session may last (ms), so a slow drip cannot hold a slot forever. */
  readonly sessionTimeout: number;
  /** Longest command line accepted (bytes). */
  readonly maxLineLength: number;
  /** Concurrent SMTP connections from one client address (IPv6: one /64). */
  readonly maxConnectionsPerClient: number;
  /** New SMTP connections per minute from one client address (IPv6: one /64); 0 = unlimited; trustedNetworks are exempt. */
  readonly maxConnectionRatePerClient: number;
  /** Refused commands (5xx replies) after which a session is closed with 421. */
  readonly maxErrorsPerSession: number;
}

export interface QueueConfig {
  readonly dir: string;
  /** Delays between attempts (ms); the last step repeats. */
  readonly retrySchedule: readonly number[];
  /** Age after which pending recipients bounce (ms). */
  readonly maxAge: number;
  /** New mail is refused with 452 4.3.1 while the spool's file system has less free space (bytes). */
  readonly minFreeSpace: number;
  /**
   * Messages whose full metadata is kept in memory (Postfix's qmgr_message_active_limit); in a
   * larger queue the ones waiting for a retry are read back from the spool when due.
   */
  readonly activeLimit: number;
}

export interface SmarthostConfig {
  readonly host: string;
  readonly port: number;
  readonly tls: TlsMode;
  readonly username?: string;
  readonly passwordFile?: string;
  /** CA bundle to verify the smarthost's certificate with, instead of the system's. */
  readonly caFile?: string;
}

export interface PerDestinationConfig {
  readonly maxConnections: number;
  /** 0 means unlimited. */
  readonly maxMessagesPerSecond: number;
}

export interface MtaStsConfig {
  readonly mode: MtaStsMode;
  /** Fetched policies, kept across restarts. */
  readonly cacheDir: string;
  /** CA bundle to verify policy hosts and MX hosts with, instead of the system's (tests). */
  readonly caFile?: string;
  /** Port of the policy host: 443 except in tests. */
  readonly port: number;
  /** Longest a policy fetch may take (ms). */
  readonly fetchTimeout: number;
}

/** TLS-RPT (RFC 8460): daily reports to the policy domains that ask for them. */
export interface TlsRptConfig {
  /** `organization-name` of the reports. */
  readonly organization: string;
  /** `contact-info` of the reports. */
  readonly contact: string;
  /** From: of reports sent by mail. */
  readonly from: string;
}

export interface DeliveryConfig {
  readonly mode: DeliveryMode;
  readonly smarthost?: SmarthostConfig;
  /** DNS servers as `ip` or `ip:port`; empty means the system resolver. */
  readonly resolvers: readonly string[];
  /** Destination port in mx mode. */
  readonly port: number;
  readonly maxConnections: number;
  readonly perDestination: PerDestinationConfig;
  /** Time to connect and be greeted (ms). */
  readonly connectTimeout: number;
  /** Longest wait for any reply once connected (ms). */
  readonly commandTimeout: number;
  /** Outbound MTA-STS in mx mode. */
  readonly mtaSts: MtaStsConfig;
  /** Absent: no reports are kept or sent. */
  readonly tlsRpt?: TlsRptConfig;
}

export interface DkimConfig {
  readonly selector: string;
  readonly privateKeyFile: string;
  readonly algorithm: DkimAlgorithm;
}

export interface ReputationConfig {
  readonly maxBounceRate: number;
  readonly maxComplaintRate: number;
  readonly minVolume: number;
  readonly pauseOnBreach: boolean;
  /**
   * A reputation pause that began before this instant (ms since the epoch) is lifted when the
   * relay starts or reloads its config: the declarative twin of `POST .../resume`.
   */
  readonly resumeBefore?: number;
}

/** A category a sending domain declares (`domains[].categories`). */
export interface CategoryConfig {
  readonly name: string;
  /** Bulk mail (newsletters): it gets one-click unsubscribe headers (with `unsubscribe` configured). */
  readonly bulk: boolean;
  /** The category's own thresholds; each one not given is the domain's. */
  readonly reputation: Omit<ReputationConfig, 'resumeBefore'>;
}

export interface DomainConfig {
  /** Lower case. */
  readonly name: string;
  readonly dkim?: DkimConfig;
  readonly paused: boolean;
  readonly reputation: ReputationConfig;
  /** Declared categories; others are counted as OTHER_CATEGORY. */
  readonly categories: readonly CategoryConfig[];
  /** All of the domain's mail is bulk: it gets one-click unsubscribe headers (with `unsubscribe` configured). */
  readonly bulk: boolean;
  /** Webhooks that receive this sending domain's events only; absent: none. */
  readonly webhooks?: readonly WebhookConfig[];
}

/**
 * One webhook: events POSTed to `url`, signed with the key in `secretFile` (first line; a
 * second line is the next key while rotating: both sign).
 */
export interface WebhookConfig {
  /** The `webhook` metric label; unique within its scope. */
  readonly name: string;
  /** https://, or http:// to a loopback address only. */
  readonly url: string;
  readonly secretFile: string;
  readonly events: readonly EventType[];
  /** Absent: one event per request. */
  readonly batch?: { readonly maxEvents: number; readonly maxDelay: number };
  readonly deferrals: DeferralMode;
  /** How long an event is retried before it is given up (ms). */
  readonly retryFor: number;
  /** Longest a request may take (ms). */
  readonly timeout: number;
}

/** The event journal shared by every webhook (under `<queue.dir>/events/`). */
export interface EventsConfig {
  /** Bytes of undelivered events kept on disk; beyond it the oldest are dropped and counted. */
  readonly maxBacklog: number;
  /** Longest wait between two attempts of a request (ms): the cap of the exponential backoff. */
  readonly maxRetryDelay: number;
}

/**
 * Asynchronous feedback: bounces (DSNs, RFC 3464) and complaints (ARF, RFC 5965) that arrive
 * after delivery. Mail for these addresses is accepted without AUTH and consumed, never relayed.
 */
export interface FeedbackConfig {
  /** When set, relayed mail gets a VERP return path at this domain (one transaction per recipient). */
  readonly verpDomain?: string;
  /** HMAC key for VERP addresses; without it a key is generated in the spool directory. */
  readonly verpKeyFile?: string;
  /** Lower case; where feedback loops deliver ARF reports. */
  readonly complaintAddress?: string;
}

export interface SuppressionConfig {
  /** How long a hard-bounced or complaining recipient stays suppressed (ms). */
  readonly expiry: number;
}

export interface HttpConfig {
  readonly address: string;
  readonly port: number;
  readonly tokensFile?: string;
}

/**
 * The queue admin API (`mail-relay queue`, relay/src/admin/). The Unix socket is always served
 * (mode 0600: only the relay's own user, e.g. through `kubectl exec`, may connect); a TCP
 * listener, for the operator's drain, only with `port`, and it requires the bearer token in
 * `tokenFile`.
 */
export interface AdminConfig {
  /** Default `<queue.dir>/admin.sock`. */
  readonly socket: string;
  readonly tcp?: { readonly address: string; readonly port: number; readonly tokenFile: string };
}

/**
 * One-click unsubscribe (RFC 8058) for bulk mail: the public listener that takes the POSTs, the
 * URL the links point at (a load balancer or Ingress in front of that listener), and the key
 * that signs the per-recipient tokens.
 */
export interface UnsubscribeConfig {
  /** Public HTTPS base URL; links are `<url>/u/<token>`. */
  readonly url: string;
  readonly keyFile: string;
  readonly address: string;
  readonly port: number;
  /** Lower case; an address of the feedback intake for `mailto:` unsubscribes, if any. */
  readonly mailto?: string;
}

export interface MetricsConfig {
  readonly address: string;
  readonly port: number;
}

export interface RelayConfig {
  readonly hostname: string;
  readonly listeners: readonly ListenerConfig[];
  readonly tls?: TlsConfig;
  readonly trustedNetworks: readonly string[];
  readonly usersFile?: string;
  readonly limits: LimitsConfig;
  readonly queue: QueueConfig;
  readonly delivery: DeliveryConfig;
  readonly domains: readonly DomainConfig[];
  readonly feedback: FeedbackConfig;
  readonly suppression: SuppressionConfig;
  readonly http?: HttpConfig;
  readonly admin?: AdminConfig;
  readonly unsubscribe?: UnsubscribeConfig;
  readonly metrics: MetricsConfig;
  /** MailRelay-level webhooks: every sending domain's events, and those of no domain. */
  readonly webhooks: readonly WebhookConfig[];
  readonly events: EventsConfig;
}

/** One entry of `usersFile`. */
export interface UserEntry {
  readonly username: string;
  /** `scrypt$N=..,r=..,p=..$<salt>$<hash>` as printed by `mail-relay hash-password`. */
  readonly passwordHash: string;
  /** Empty means any configured sending domain. */
  readonly allowedSenderDomains: readonly string[];
}

/**
 * One entry of `http.tokensFile`. Exactly one of `token` (the bearer token itself) and
 * `tokenHash` (`sha256:<64 hex digits>` of the token, so the plaintext need not be stored).
 */
export interface ApiTokenEntry {
  /** Who sends; recorded as the message's origin user and in logs (never the token). */
  readonly name: string;
  readonly token?: string;
  readonly tokenHash?: string;
  /** Empty means any configured sending domain. */
  readonly allowedSenderDomains: readonly string[];
}

/**
 * relay.yaml as written on disk (what the operator renders): durations are strings such as
 * `30s` or `4h`, sizes strings such as `25Mi` or byte counts, and optional keys take the
 * relay's defaults. `parseConfig` turns this into `RelayConfig`.
 */
export type Duration = string;
export type Size = string | number;

export interface RelayConfigFile {
  hostname: string;
  listeners: {
    name: string;
    address?: string;
    port: number;
    tls?: TlsMode;
    auth?: AuthMode;
    submission?: boolean;
  }[];
  tls?: { certFile: string; keyFile: string; minVersion?: TlsVersion; ciphers?: string };
  trustedNetworks?: string[];
  usersFile?: string;
  limits?: {
    maxMessageSize?: Size;
    maxRecipients?: number;
    maxConnections?: number;
    idleTimeout?: Duration;
    sessionTimeout?: Duration;
    maxLineLength?: number;
    maxConnectionsPerClient?: number;
    maxConnectionRatePerClient?: number;
    maxErrorsPerSession?: number;
  };
  queue?: { dir?: string; retrySchedule?: Duration[]; maxAge?: Duration; minFreeSpace?: Size; activeLimit?: number };
  delivery?: {
    mode?: DeliveryMode;
    smarthost?: { host: string; port?: number; tls?: TlsMode; username?: string; passwordFile?: string; caFile?: string };
    resolvers?: string[];
    port?: number;
    maxConnections?: number;
    perDestination?: { maxConnections?: number; maxMessagesPerSecond?: number };
    connectTimeout?: Duration;
    commandTimeout?: Duration;
    mtaSts?: { mode?: MtaStsMode; cacheDir?: string; caFile?: string; port?: number; fetchTimeout?: Duration };
    tlsRpt?: { organization?: string; contact?: string; from?: string };
  };
  domains?: {
    name: string;
    dkim?: { selector: string; privateKeyFile: string; algorithm?: DkimAlgorithm };
    paused?: boolean;
    reputation?: {
      maxBounceRate?: number;
      maxComplaintRate?: number;
      minVolume?: number;
      pauseOnBreach?: boolean;
      /** RFC 3339 time, e.g. `2026-11-28T18:00:00Z`. */
      resumeBefore?: string;
    };
    categories?: Array<
      | string
      | { name: string; bulk?: boolean; reputation?: { maxBounceRate?: number; maxComplaintRate?: number; minVolume?: number; pauseOnBreach?: boolean } }
    >;
    bulk?: boolean;
    webhooks?: WebhookFile[];
  }[];
  feedback?: { verpDomain?: string; verpKeyFile?: string; complaintAddress?: string };
  suppression?: { expiry?: Duration };
  http?: { address?: string; port?: number; tokensFile?: string };
  admin?: { socket?: string; address?: string; port?: number; tokenFile?: string };
  unsubscribe?: { url: string; keyFile: string; address?: string; port?: number; mailto?: string };
  metrics?: { address?: string; port?: number };
  webhooks?: WebhookFile[];
  events?: { maxBacklog?: Size; maxRetryDelay?: Duration };
}

/** A webhook as relay.yaml spells it, at the top level or under `domains[]`. */
export interface WebhookFile {
  name: string;
  url: string;
  secretFile: string;
  events?: EventType[];
  batch?: { maxEvents?: number; maxDelay?: Duration };
  deferrals?: DeferralMode;
  retryFor?: Duration;
  timeout?: Duration;
}
