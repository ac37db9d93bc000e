import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import {
  AUTH_MODES,
  CATEGORY_NAME,
  MAX_CATEGORIES,
  DELIVERY_MODES,
  DKIM_ALGORITHMS,
  MTA_STS_MODES,
  TLS_MODES,
  TLS_VERSIONS,
  parseResolver,
  type AdminConfig,
  type CategoryConfig,
  type DeliveryConfig,
  type DomainConfig,
  type ListenerConfig,
  type RelayConfig,
  type UnsubscribeConfig,
} from './schema.ts';

export { parseResolver };
import { ObjectReader, Problems, join, readDuration } from './reader.ts';
import { parseCidr } from './cidr.ts';
import { parseEvents, parseWebhooks } from './parse-webhooks.ts';

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const LABEL_NAME = /^[a-z0-9]([a-z0-9_-]{0,62})$/;
const DKIM_SELECTOR = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,62})$/;

/**
 * Forward-secret AEAD suites only: the TLS 1.3 suites, then ECDHE with AES-GCM or
 * ChaCha20-Poly1305 for TLS 1.2 (no static RSA key exchange, no CBC, no SHA-1 MACs).
 */
export const DEFAULT_TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
].join(':');

export const DEFAULT_RETRY_SCHEDULE = ['1m', '5m', '15m', '30m', '1h', '2h', '4h'];

export class ConfigError extends Error {
  readonly code = 'ERELAY_CONFIG_INVALID';

  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Turns parsed relay.yaml into a typed, defaulted, deeply frozen config, or throws listing every problem. */
export function parseConfig(input: unknown): RelayConfig {
  const problems = new Problems();
  const root = new ObjectReader(input, '', problems);
  if (!root.ok) {
    throw new ConfigError(['the configuration must be a YAML mapping']);
  }

  const hostname = root.string('hostname', { required: true, pattern: HOSTNAME, patternHint: 'must be a host name' });
  const listeners = parseListeners(root, problems);
  const tls = parseTls(root);
  const trustedNetworks = root.stringList('trustedNetworks', (item) => (parseCidr(item) ? undefined : 'must be an IPv4 or IPv6 address or CIDR'));
  const usersFile = root.string('usersFile');
  const limits = parseLimits(root);
  const queue = parseQueue(root);
  const delivery = parseDelivery(root, queue.dir, hostname);
  const domains = parseDomains(root, problems);
  const feedback = parseFeedback(root);
  const suppressionReader = root.child('suppression');
  const suppression = { expiry: suppressionReader.duration('expiry', 30 * 86_400_000) };
  suppressionReader.done();
  const http = root.has('http') ? parseEndpoint(root.child('http'), 8080, true) : undefined;
  const admin = root.has('admin') ? parseAdmin(root.child('admin'), queue.dir) : undefined;
  const unsubscribe = root.has('unsubscribe') ? parseUnsubscribe(root.child('unsubscribe')) : undefined;
  const metrics = parseEndpoint(root.child('metrics'), 9090, false);
  const webhooks = parseWebhooks(root);
  const events = parseEvents(root);
  root.done();

  listeners.forEach((listener, i) => {
    const path = join('listeners', i);
    if (listener.tls !== 'none' && !tls) problems.add(join(path, 'tls'), `${listener.tls} needs the top-level tls section (certFile, keyFile)`);
    if (listener.auth === 'required' && listener.tls === 'none') {
      problems.add(join(path, 'auth'), 'required needs tls starttls or implicit: passwords never travel in clear');
    }
    if (listener.auth !== 'none' && !usersFile) problems.add(join(path, 'auth'), `${listener.auth} needs usersFile`);
  });

  if (feedback.verpDomain && domains.some((d) => d.name === feedback.verpDomain)) {
    // every address at verpDomain is consumed as feedback; a sending domain's own mail would vanish
    problems.add('feedback.verpDomain', 'must not be a sending domain itself (use a subdomain such as bounces.example.com)');
  }

  if (problems.list.length > 0) throw new ConfigError(problems.list);

  return deepFreeze({
    hostname,
    listeners,
    tls,
    trustedNetworks,
    usersFile,
    limits,
    queue,
    delivery,
    domains,
    feedback,
    suppression,
    http: http ? { address: http.address, port: http.port, tokensFile: http.tokensFile } : undefined,
    ...(admin ? { admin } : {}),
    ...(unsubscribe ? { unsubscribe } : {}),
    metrics: { address: metrics.address, port: metrics.port },
    webhooks,
    events,
  });
}

function parseListeners(root: ObjectReader, problems: Problems): ListenerConfig[] {
  const { items, path } = root.array('listeners');
  if (items.length === 0) problems.add(path, 'must list at least one listener');
  const names = new Set<string>();
  const sockets = new Set<string>();
  return items.map((item, i) => {
    const r = new ObjectReader(item, join(path, i), problems);
    const name = r.string('name', { required: true, pattern: LABEL_NAME, patternHint: 'must be lower case letters, digits, - or _' });
    const address = r.string('address') ?? '0.0.0.0';
    if (isIP(address) === 0) problems.add(join(r.path, 'address'), 'must be an IP address');
    const port = r.number('port', 0, { min: 0, max: 65535 });
    if (!r.has('port')) problems.add(join(r.path, 'port'), 'is required');
    const tls = r.oneOf('tls', TLS_MODES, 'none');
    const auth = r.oneOf('auth', AUTH_MODES, 'none');
    const submission = r.boolean('submission', true);
    r.done();
    if (names.has(name)) problems.add(join(r.path, 'name'), `duplicates listener ${name}`);
    // these name the origin of HTTP API messages and DSNs in metrics and message metadata
    if (name === 'http' || name === 'dsn') problems.add(join(r.path, 'name'), `${name} is reserved`);
    names.add(name);
    const socket = `${address}:${port}`;
    if (port !== 0 && sockets.has(socket)) problems.add(join(r.path, 'port'), `${socket} is used by another listener`);
    sockets.add(socket);
    return { name, address, port, tls, auth, submission };
  });
}

function parseTls(root: ObjectReader): RelayConfig['tls'] {
  if (!root.has('tls')) {
    root.raw('tls');
    return undefined;
  }
  const r = root.child('tls');
  const certFile = r.string('certFile', { required: true });
  const keyFile = r.string('keyFile', { required: true });
  const minVersion = r.oneOf('minVersion', TLS_VERSIONS, 'TLSv1.2');
  const ciphers = r.string('ciphers') ?? DEFAULT_TLS_CIPHERS;
  try {
    // OpenSSL is the judge of a cipher list; building a context reads no file
    createSecureContext({ ciphers });
  } catch (err) {
    r.problems.add(join(r.path, 'ciphers'), `is not a cipher list OpenSSL accepts (${(err as Error).message})`);
  }
  r.done();
  return { certFile, keyFile, minVersion, ciphers };
}

function parseLimits(root: ObjectReader): RelayConfig['limits'] {
  const r = root.child('limits');
  const limits = {
    maxMessageSize: r.size('maxMessageSize', 25 * 2 ** 20),
    maxRecipients: r.number('maxRecipients', 100, { min: 1, max: 100_000 }),
    maxConnections: r.number('maxConnections', 1000, { min: 1 }),
    idleTimeout: r.duration('idleTimeout', 300_000),
    sessionTimeout: r.duration('sessionTimeout', 1_800_000),
    maxLineLength: r.size('maxLineLength', 4096),
    maxConnectionsPerClient: r.number('maxConnectionsPerClient', 50, { min: 1 }),
    maxConnectionRatePerClient: r.number('maxConnectionRatePerClient', 300, { min: 0 }),
    maxErrorsPerSession: r.number('maxErrorsPerSession', 10, { min: 1 }),
  };
  if (limits.maxLineLength < 512) r.problems.add(join(r.path, 'maxLineLength'), 'must be at least 512 (RFC 5321 4.5.3.1.4)');
  r.done();
  return limits;
}

function parseQueue(root: ObjectReader): RelayConfig['queue'] {
  const r = root.child('queue');
  const dir = r.string('dir', { required: true });
  const schedule = r.has('retrySchedule') ? r.array('retrySchedule') : { items: DEFAULT_RETRY_SCHEDULE, path: join(r.path, 'retrySchedule') };
  const retrySchedule = schedule.items
    .map((item, i) => readDuration(item, join(schedule.path, i), r.problems))
    .filter((ms): ms is number => ms !== undefined);
  if (schedule.items.length === 0) r.problems.add(schedule.path, 'must list at least one delay');
  const queue = {
    dir,
    retrySchedule,
    maxAge: r.duration('maxAge', 5 * 86_400_000),
    minFreeSpace: r.size('minFreeSpace', 256 * 2 ** 20),
    activeLimit: r.number('activeLimit', 10_000, { min: 1 }),
  };
  r.done();
  return queue;
}

function parseDelivery(root: ObjectReader, queueDir: string, hostname: string): DeliveryConfig {
  const r = root.child('delivery');
  const mode = r.oneOf('mode', DELIVERY_MODES, 'mx');
  let smarthost: DeliveryConfig['smarthost'];
  if (r.has('smarthost')) {
    const s = r.child('smarthost');
    smarthost = {
      host: s.string('host', { required: true }),
      port: s.number('port', 587, { min: 1, max: 65535 }),
      tls: s.oneOf('tls', TLS_MODES, 'starttls'),
      username: s.string('username'),
      passwordFile: s.string('passwordFile'),
      caFile: s.string('caFile'),
    };
    if (smarthost.username && !smarthost.passwordFile) s.problems.add(join(s.path, 'passwordFile'), 'is required with username');
    s.done();
  } else {
    r.raw('smarthost');
    if (mode === 'smarthost') r.problems.add(join(r.path, 'smarthost'), 'is required when mode is smarthost');
  }
  const resolvers = r.stringList('resolvers', (item) => (parseResolver(item) ? undefined : 'must be an IP address or ip:port'));
  const port = r.number('port', 25, { min: 1, max: 65535 });
  const maxConnections = r.number('maxConnections', 200, { min: 1 });
  const p = r.child('perDestination');
  const perDestination = {
    maxConnections: p.number('maxConnections', 10, { min: 1 }),
    maxMessagesPerSecond: p.number('maxMessagesPerSecond', 0, { min: 0, integer: false }),
  };
  p.done();
  const connectTimeout = r.duration('connectTimeout', 30_000);
  const commandTimeout = r.duration('commandTimeout', 300_000);
  const m = r.child('mtaSts');
  const mtaSts = {
    mode: m.oneOf('mode', MTA_STS_MODES, 'apply'),
    cacheDir: m.string('cacheDir') ?? `${queueDir.replace(/\/+$/, '')}/mta-sts`,
    caFile: m.string('caFile'),
    port: m.number('port', 443, { min: 1, max: 65535 }),
    fetchTimeout: m.duration('fetchTimeout', 60_000),
  };
  m.done();
  let tlsRpt: DeliveryConfig['tlsRpt'];
  if (r.has('tlsRpt')) {
    const t = r.child('tlsRpt');
    const address = { pattern: MAILBOX, patternHint: 'must be an address user@domain' };
    tlsRpt = {
      organization: t.string('organization') ?? hostname,
      contact: t.string('contact', address) ?? `postmaster@${hostname}`,
      from: t.string('from', address) ?? `tlsrpt-noreply@${hostname}`,
    };
    t.done();
    if (mode !== 'mx' || mtaSts.mode === 'off') r.problems.add(join(r.path, 'tlsRpt'), 'needs mode mx with mtaSts on: reports are of MTA-STS results');
  } else {
    r.raw('tlsRpt');
  }
  r.done();
  return { mode, smarthost, resolvers, port, maxConnections, perDestination, connectTimeout, commandTimeout, mtaSts, ...(tlsRpt ? { tlsRpt } : {}) };
}

function parseDomains(root: ObjectReader, problems: Problems): DomainConfig[] {
  const { items, path } = root.array('domains');
  const seen = new Set<string>();
  return items.map((item, i) => {
    const r = new ObjectReader(item, join(path, i), problems);
    const name = r.string('name', { required: true, pattern: HOSTNAME, patternHint: 'must be a domain name' }).toLowerCase();
    if (seen.has(name)) problems.add(join(r.path, 'name'), `duplicates domain ${name}`);
    seen.add(name);
    let dkim: DomainConfig['dkim'];
    if (r.has('dkim')) {
      const d = r.child('dkim');
      dkim = {
        selector: d.string('selector', { required: true, pattern: DKIM_SELECTOR, patternHint: 'must be a DNS label' }),
        privateKeyFile: d.string('privateKeyFile', { required: true }),
        algorithm: d.oneOf('algorithm', DKIM_ALGORITHMS, 'rsa-sha256'),
      };
      d.done();
    } else {
      r.raw('dkim');
    }
    const paused = r.boolean('paused', false);
    const rep = r.child('reputation');
    const reputation = {
      maxBounceRate: rep.number('maxBounceRate', 0.1, { min: 0, max: 1, integer: false }),
      maxComplaintRate: rep.number('maxComplaintRate', 0.003, { min: 0, max: 1, integer: false }),
      minVolume: rep.number('minVolume', 100, { min: 0 }),
      pauseOnBreach: rep.boolean('pauseOnBreach', true),
    };
    const resumeBefore = readTime(rep, 'resumeBefore');
    rep.done();
    const categories = parseCategories(r, reputation);
    const bulk = r.boolean('bulk', false);
    const webhooks = parseWebhooks(r);
    r.done();
    return {
      name,
      dkim,
      paused,
      reputation: resumeBefore === undefined ? reputation : { ...reputation, resumeBefore },
      categories,
      bulk,
      ...(webhooks.length > 0 ? { webhooks } : {}),
    };
  });
}

const CATEGORY_HINT = 'must be a category name: 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit';

/** `domains[].categories`: names, or `{ name, bulk, reputation }` whose thresholds default to the domain's. */
function parseCategories(domain: ObjectReader, defaults: CategoryConfig['reputation']): CategoryConfig[] {
  const { items, path } = domain.array('categories');
  if (items.length > MAX_CATEGORIES) domain.problems.add(path, `must list at most ${MAX_CATEGORIES} categories`);
  const seen = new Set<string>();
  const out: CategoryConfig[] = [];
  items.slice(0, MAX_CATEGORIES).forEach((item, i) => {
    let category: CategoryConfig;
    if (typeof item === 'string') {
      if (!CATEGORY_NAME.test(item)) domain.problems.add(join(path, i), CATEGORY_HINT);
      category = { name: item, bulk: false, reputation: defaults };
    } else {
      const c = new ObjectReader(item, join(path, i), domain.problems);
      const name = c.string('name', { required: true, pattern: CATEGORY_NAME, patternHint: CATEGORY_HINT });
      const bulk = c.boolean('bulk', false);
      const rep = c.child('reputation');
      const reputation = {
        maxBounceRate: rep.number('maxBounceRate', defaults.maxBounceRate, { min: 0, max: 1, integer: false }),
        maxComplaintRate: rep.number('maxComplaintRate', defaults.maxComplaintRate, { min: 0, max: 1, integer: false }),
        minVolume: rep.number('minVolume', defaults.minVolume, { min: 0 }),
        pauseOnBreach: rep.boolean('pauseOnBreach', defaults.pauseOnBreach),
      };
      rep.done();
      c.done();
      category = { name, bulk, reputation };
    }
    if (seen.has(category.name)) domain.problems.add(join(path, i), `duplicates category ${category.name}`);
    seen.add(category.name);
    out.push(category);
  });
  return out;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** An RFC 3339 time as ms since the epoch. */
function readTime(r: ObjectReader, key: string): number | undefined {
  const text = r.string(key);
  if (text === undefined) return undefined;
  const ms = RFC3339.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) {
    r.problems.add(join(r.path, key), 'must be an RFC 3339 time such as 2026-11-28T18:00:00Z');
    return undefined;
  }
  return ms;
}

const MAILBOX = /^[^@\s<>"]+@[^@\s<>"]+\.[^@\s<>"]+$/;

function parseFeedback(root: ObjectReader): RelayConfig['feedback'] {
  const r = root.child('feedback');
  const verpDomain = r.string('verpDomain', { pattern: HOSTNAME, patternHint: 'must be a domain name' })?.toLowerCase();
  const verpKeyFile = r.string('verpKeyFile');
  const complaintAddress = r.string('complaintAddress', { pattern: MAILBOX, patternHint: 'must be an address user@domain' })?.toLowerCase();
  if (verpKeyFile && !verpDomain) r.problems.add(join(r.path, 'verpKeyFile'), 'needs verpDomain');
  if (verpDomain && complaintAddress && complaintAddress.endsWith(`@${verpDomain}`)) {
    r.problems.add(join(r.path, 'complaintAddress'), 'must not be at verpDomain (that domain only takes VERP addresses)');
  }
  r.done();
  return {
    ...(verpDomain ? { verpDomain } : {}),
    ...(verpKeyFile ? { verpKeyFile } : {}),
    ...(complaintAddress ? { complaintAddress } : {}),
  };
}

function parseEndpoint(r: ObjectReader, defaultPort: number, withTokens: boolean) {
  const address = r.string('address') ?? '0.0.0.0';
  if (isIP(address) === 0) r.problems.add(join(r.path, 'address'), 'must be an IP address');
  const port = r.number('port', defaultPort, { min: 0, max: 65535 });
  const tokensFile = withTokens ? r.string('tokensFile') : undefined;
  r.done();
  return { address, port, tokensFile };
}

function parseAdmin(r: ObjectReader, queueDir: string): AdminConfig {
  const socket = r.string('socket') ?? `${queueDir.replace(/\/+$/, '')}/admin.sock`;
  // sun_path holds 108 bytes on Linux, 104 on macOS
  if (Buffer.byteLength(socket) > 100) r.problems.add(join(r.path, 'socket'), 'must be at most 100 bytes long (a Unix socket path)');
  if (!r.has('port')) {
    for (const key of ['address', 'tokenFile']) if (r.has(key)) r.problems.add(join(r.path, key), 'needs port (the TCP listener)');
    r.raw('address');
    r.raw('tokenFile');
    r.done();
    return { socket };
  }
  const address = r.string('address') ?? '0.0.0.0';
  if (isIP(address) === 0) r.problems.add(join(r.path, 'address'), 'must be an IP address');
  const port = r.number('port', 0, { min: 0, max: 65535 });
  const tokenFile = r.string('tokenFile') ?? '';
  if (!tokenFile) r.problems.add(join(r.path, 'tokenFile'), 'is required with port: the TCP listener takes only a bearer token');
  r.done();
  return { socket, tcp: { address, port, tokenFile } };
}

function parseUnsubscribe(r: ObjectReader): UnsubscribeConfig {
  const url = r.string('url', { required: true }) ?? '';
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  // mailbox providers only POST to https (RFC 8058 §3.1); http is for loopback tests
  const loopback = parsed?.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(parsed.hostname);
  if (!parsed || (parsed.protocol !== 'https:' && !loopback) || parsed.search || parsed.hash || parsed.username) {
    r.problems.add(join(r.path, 'url'), 'must be an https:// URL without query, fragment or credentials');
  }
  const keyFile = r.string('keyFile', { required: true }) ?? '';
  const mailto = r.string('mailto', { pattern: MAILBOX, patternHint: 'must be an address user@domain' })?.toLowerCase();
  const address = r.string('address') ?? '0.0.0.0';
  if (isIP(address) === 0) r.problems.add(join(r.path, 'address'), 'must be an IP address');
  const port = r.number('port', 8081, { min: 0, max: 65535 });
  r.done();
  return { url: url.replace(/\/+$/, ''), keyFile, address, port, ...(mailto ? { mailto } : {}) };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}
