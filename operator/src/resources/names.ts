/** Names of every object the operator owns, derived from its owner. The only place names are made. */

export const names = {
  relayConfigMap: (relay: string) => `${relay}-config`,
  /** Users file (hashed passwords) and API tokens file rendered for the relay. */
  relayAuthSecret: (relay: string) => `${relay}-auth`,
  relayStatefulSet: (relay: string) => relay,
  relayHeadlessService: (relay: string) => `${relay}-headless`,
  relayClientService: (relay: string) => relay,
  relayPdb: (relay: string) => relay,
  relayNetworkPolicy: (relay: string) => relay,
  /** Certificate and its Secret when spec.tls.issuerRef asks cert-manager for one. */
  relayCertificate: (relay: string) => `${relay}-tls`,
  /** The selector is part of the name: changing it (rotation) makes a new key beside the old one. */
  dkimSecret: (sendingDomain: string, selector: string) => `${sendingDomain}-dkim-${selector}`,
  endpoint: (relay: string, namespace: string) => `${relay}.${namespace}.svc`,
};

/** Paths inside the relay container; relay.yaml points at them. */
export const paths = {
  configDir: '/etc/mail-relay/config',
  configFile: '/etc/mail-relay/config/relay.yaml',
  tlsDir: '/etc/mail-relay/tls',
  authDir: '/etc/mail-relay/auth',
  usersFile: '/etc/mail-relay/auth/users.yaml',
  tokensFile: '/etc/mail-relay/auth/tokens.yaml',
  /** HMAC key of the VERP return paths: one per relay, shared by its pods. */
  verpKeyFile: '/etc/mail-relay/auth/verp.key',
  /** Bearer token of the relay's admin API over TCP: the operator and the relay's own pods (drain handoff) use it. */
  adminTokenFile: '/etc/mail-relay/auth/admin.token',
  smarthostDir: '/etc/mail-relay/smarthost',
  dkimDir: '/etc/mail-relay/dkim',
  spoolDir: '/var/spool/mail-relay',
};

export const ports = {
  metrics: 9090,
  /** The relay's queue admin API over TCP (relay/src/admin/), token-authenticated. */
  admin: 8026,
  dns: 53,
  /** Where MX delivery connects (RFC 5321). */
  smtp: 25,
  /** Ports below 1024 need privileges the non-root relay does not have; the Service maps them. */
  container: (servicePort: number) => (servicePort < 1024 ? 10000 + servicePort : servicePort),
};
