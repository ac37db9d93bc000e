/** Names of every object the operator owns, derived from its owner. The only place names are made. */

export const names = {
  relayConfigMap: (relay: string) => `${relay}-config`,
  /** Users file (hashed passwords) and API tokens file rendered for the relay. */
  relayAuthSecret: (relay: string) => `${relay}-auth`,
  relayStatefulSet: (relay: string) => relay,
  relayPod: (relay: string, ordinal: number) => `${relay}-${ordinal}`,
  /** A pod's spool volume claim, as the StatefulSet names it from its volumeClaimTemplate `spool`. */
  relaySpoolClaim: (relay: string, ordinal: number) => `spool-${relay}-${ordinal}`,
  relayHeadlessService: (relay: string) => `${relay}-headless`,
  relayClientService: (relay: string) => relay,
  relayPdb: (relay: string) => relay,
  relayNetworkPolicy: (relay: string) => relay,
  /** Certificate and its Secret when spec.tls.issuerRef asks cert-manager for one. */
  relayCertificate: (relay: string) => `${relay}-tls`,
  /** The selector is part of the name: changing it (rotation) makes a new key beside the old one. */
  dkimSecret: (sendingDomain: string, selector: string) => `${sendingDomain}-dkim-${selector}`,
  /** The DKIM keys a relay's pods read, of all its domains: one Secret volume, so a new key needs no new pod template. */
  relayDkimSecret: (relay: string) => `${relay}-dkim`,
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
  /** HMAC key of the one-click unsubscribe tokens: one per relay, shared by its pods. */
  unsubscribeKeyFile: '/etc/mail-relay/auth/unsubscribe.key',
  smarthostDir: '/etc/mail-relay/smarthost',
  dkimDir: '/etc/mail-relay/dkim',
  /** Signing keys of the webhooks: `<relay|domain>/<webhook>/secret`. */
  webhooksDir: '/etc/mail-relay/webhooks',
  spoolDir: '/var/spool/mail-relay',
};

export const ports = {
  metrics: 9090,
  /** The relay's queue admin API over TCP (relay/src/admin/), token-authenticated. */
  admin: 8026,
  /** The relay's one-click unsubscribe listener: public by design (token-authenticated), behind spec.unsubscribe.url. */
  unsubscribe: 8081,
  dns: 53,
  /** Where MX delivery connects (RFC 5321). */
  smtp: 25,
  /** MTA-STS policy hosts (`https://mta-sts.<domain>/`), fetched in mx mode. */
  https: 443,
  /** Ports below 1024 need privileges the non-root relay does not have; the Service maps them. */
  container: (servicePort: number) => (servicePort < 1024 ? 10000 + servicePort : servicePort),
};
