import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { dkimVerify } from 'mailauth';
import type { SendingDomain } from '../api/v1alpha1/types.ts';
// The relay's side of the contract: what the operator renders must be what the relay accepts.
import { parseConfig } from '../../../relay/src/config/parse-config.ts';
import { parseUsers } from '../../../relay/src/config/parse-users.ts';
import { hashPassword as relayHash, parsePasswordHash, verifyPassword } from '../../../relay/src/config/password.ts';
import { signMessage } from '../../../relay/src/dkim/dkim-signer.ts';
import { hashPassword, passwordMatches } from '../controllers/password-hashes.ts';
import { allowedDomainsFor, buildTokensFile, buildUsersFile } from './auth-files.ts';
import { buildConditions } from './conditions.ts';
import { buildDnsRecords, splitTxt } from './dns-records.ts';
import { decideDomainConflicts } from './domain-conflicts.ts';
import { sampleDomain, sampleRelay } from './fixtures.ts';
import { assertGolden } from './golden.ts';
import { buildAuthSecret, buildConfigMap } from './relay-config-objects.ts';
import { buildCertificate } from './relay-certificate.ts';
import { buildRelayConfig, renderRelayConfig } from './relay-config.ts';
import { buildClientService, buildHeadlessService, buildPodDisruptionBudget } from './relay-services.ts';
import { buildStatefulSet } from './relay-statefulset.ts';
import { buildRelayNetworkPolicy } from './relay-network-policy.ts';
import type { MailRelay } from '../api/v1alpha1/types.ts';

const domains = [
  { spec: sampleDomain('news', 'news.example.com', { paused: true }).spec },
  { spec: sampleDomain('example-com', 'example.com').spec, dkim: { selector: 'mr2026', algorithm: 'ed25519-sha256' as const } },
];
const dkimKeys = [{ domain: 'example.com', secretName: 'example-com-dkim-mr2026', key: 'private.key' }];

describe('relay config', () => {
  it('renders relay.yaml matching its golden file', () => {
    assertGolden('relay-yaml', renderRelayConfig(buildRelayConfig(sampleRelay(), { domains })));
  });

  it('is accepted by the relay parser, with the Service ports mapped to unprivileged container ports', () => {
    const config = parseConfig(parse(renderRelayConfig(buildRelayConfig(sampleRelay(), { domains }))));
    assert.deepEqual(
      config.listeners.map((l) => [l.name, l.port, l.tls, l.auth, l.submission]),
      [
        ['submission', 10587, 'starttls', 'required', true],
        ['smtps', 10465, 'implicit', 'required', true],
        ['internal', 2525, 'none', 'none', false],
      ],
    );
    assert.deepEqual(config.domains.map((d) => [d.name, d.paused, d.dkim?.selector]), [
      ['example.com', false, 'mr2026'],
      ['news.example.com', true, undefined],
    ]);
    assert.equal(config.usersFile, '/etc/mail-relay/auth/users.yaml');
    assert.equal(config.http?.tokensFile, '/etc/mail-relay/auth/tokens.yaml');
    assert.equal(config.queue.maxAge, 5 * 86_400_000);
  });

  it('renders a relay.yaml the relay accepts when two SendingDomains claim one domain, with the older one in it', () => {
    const older = sampleDomain('example-com', 'example.com', { paused: false });
    const newer = sampleDomain('example-com-again', 'example.com', { paused: true });
    older.metadata.creationTimestamp = '2026-01-01T00:00:00Z' as unknown as Date;
    newer.metadata.creationTimestamp = '2026-01-02T00:00:00Z' as unknown as Date;
    const claimed = [newer, older, sampleDomain('news', 'news.example.com')];
    const render = (sds: readonly SendingDomain[]) => renderRelayConfig(buildRelayConfig(sampleRelay(), { domains: sds.map((sd) => ({ spec: sd.spec })) }));
    // Without the decision the relay refuses the file: the contract this guards.
    assert.throws(() => parseConfig(parse(render(claimed))), /duplicates domain example\.com/);
    const config = parseConfig(parse(render(decideDomainConflicts(claimed).accepted)));
    assert.deepEqual(config.domains.map((d) => [d.name, d.paused]), [
      ['example.com', false],
      ['news.example.com', false],
    ]);
  });

  it('renders feedback with the shared VERP key file, and the suppression expiry', () => {
    const relay = sampleRelay({ feedback: { verpDomain: 'bounces.example.com', complaintAddress: 'fbl@example.com' }, suppression: { expiry: '7d' } });
    const config = parseConfig(parse(renderRelayConfig(buildRelayConfig(relay, { domains }))));
    assert.deepEqual(config.feedback, { verpDomain: 'bounces.example.com', verpKeyFile: '/etc/mail-relay/auth/verp.key', complaintAddress: 'fbl@example.com' });
    assert.equal(config.suppression.expiry, 7 * 86_400_000);
    const mounts = buildStatefulSet(sampleRelay({ auth: { trustedNetworks: [] }, http: { enabled: false, port: 8080 }, feedback: { verpDomain: 'b.example.com' } }), { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!.containers[0]!.volumeMounts!;
    assert.ok(mounts.some((m) => m.mountPath === '/etc/mail-relay/auth'), 'the VERP key is mounted even without users or tokens');
  });

  it('renders the per-client limits and a TLS cipher list from the spec, and the queue admin socket', () => {
    const relay = sampleRelay({
      tls: { secretName: 'outbound-tls', minVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' },
      limits: { maxMessageSize: '10Mi', maxRecipients: 50, maxConnections: 500, maxConnectionsPerClient: 7, maxConnectionRatePerClient: 0, maxErrorsPerSession: 3 },
    });
    const config = parseConfig(parse(renderRelayConfig(buildRelayConfig(relay, { domains }))));
    assert.equal(config.tls?.ciphers, 'ECDHE-ECDSA-AES256-GCM-SHA384');
    assert.equal(config.limits.maxConnectionsPerClient, 7);
    assert.equal(config.limits.maxConnectionRatePerClient, 0);
    assert.equal(config.limits.maxErrorsPerSession, 3);
    assert.equal(config.admin?.socket, '/var/spool/mail-relay/admin.sock');
  });

  it('renders smarthost delivery with the username and a mounted password file', () => {
    const relay = sampleRelay({
      delivery: {
        mode: 'smarthost',
        smarthost: { host: 'smtp.upstream.example', port: 587, tls: 'starttls', credentialsSecretName: 'upstream' },
        resolvers: [],
        maxConnections: 50,
        perDestination: { maxConnections: 5, maxMessagesPerSecond: 20 },
      },
    });
    const config = parseConfig(parse(renderRelayConfig(buildRelayConfig(relay, { domains: [], smarthostUsername: 'relay-user' }))));
    assert.deepEqual(config.delivery.smarthost, {
      host: 'smtp.upstream.example',
      port: 587,
      tls: 'starttls',
      username: 'relay-user',
      passwordFile: '/etc/mail-relay/smarthost/password',
      caFile: undefined,
    });
    assert.equal(config.delivery.perDestination.maxMessagesPerSecond, 20);
  });
});

describe('owned objects', () => {
  const relay = sampleRelay();

  it('StatefulSet matches its golden file', () => {
    assertGolden('statefulset', buildStatefulSet(relay, { defaultImage: 'example/relay:1', configHash: 'abc123', tlsSecretName: 'outbound-tls', dkimKeys }));
  });

  it('Services, PodDisruptionBudget, ConfigMap, auth Secret and Certificate match their golden files', () => {
    assertGolden('services', [buildClientService(relay), buildHeadlessService(relay)]);
    assertGolden('pdb', buildPodDisruptionBudget(relay));
    assertGolden('configmap', buildConfigMap(relay, 'hostname: relay.example.com\n'));
    assertGolden('auth-secret', buildAuthSecret(relay, { usersYaml: 'users\n', tokensYaml: 'tokens\n' }));
    assertGolden('certificate', buildCertificate(sampleRelay({ tls: { issuerRef: { name: 'letsencrypt', kind: 'ClusterIssuer', group: 'cert-manager.io' }, minVersion: 'TLSv1.3' } })));
  });

  it('runs the relay locked down: non-root, read-only root, no privilege escalation, seccomp RuntimeDefault', () => {
    const pod = buildStatefulSet(relay, { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!;
    const c = pod.containers[0]!.securityContext!;
    assert.equal(pod.securityContext?.runAsNonRoot, true);
    assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(c.readOnlyRootFilesystem, true);
    assert.ok(c.runAsUser! > 10000 && c.runAsGroup! > 10000, 'the container names a user and group above the host range');
    assert.equal(c.allowPrivilegeEscalation, false);
    assert.deepEqual(c.capabilities?.drop, ['ALL']);
    assert.ok(pod.containers[0]!.ports!.every((p) => p.containerPort >= 1024), 'container ports are unprivileged');
  });

  it('leaves the Service before it stops: a preStop pause shorter than the grace period', () => {
    const pod = buildStatefulSet(sampleRelay(), { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!;
    const pause = pod.containers[0]!.lifecycle?.preStop?.sleep?.seconds;
    assert.ok(pause !== undefined && pause >= 1, 'a preStop sleep');
    // the pause, then the relay's 25 s shutdown grace (--shutdown-grace), inside the pod's grace period
    assert.ok(pause + 25 < pod.terminationGracePeriodSeconds!, `${pause} s + 25 s < ${pod.terminationGracePeriodSeconds} s`);
  });

  it('puts the config hash on the pod template, so a config change rolls the pods', () => {
    const a = buildStatefulSet(relay, { defaultImage: 'x', configHash: 'one', dkimKeys: [] });
    const b = buildStatefulSet(relay, { defaultImage: 'x', configHash: 'two', dkimKeys: [] });
    assert.notDeepEqual(a.spec!.template.metadata, b.spec!.template.metadata);
    assert.deepEqual({ ...a.spec, template: undefined }, { ...b.spec, template: undefined });
  });

  it('gives relay pods cpu, memory and ephemeral-storage requests and a memory limit by default, so they are not BestEffort', () => {
    const resources = buildStatefulSet(sampleRelay({ pod: {} }), { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!.containers[0]!.resources!;
    assert.deepEqual(resources.requests, { cpu: '100m', memory: '256Mi', 'ephemeral-storage': '128Mi' });
    assert.deepEqual(resources.limits, { memory: '512Mi', 'ephemeral-storage': '1Gi' });
  });

  it('replaces the default resources with spec.pod.resources as a whole, numbers written as quantity strings', () => {
    const custom = sampleRelay({ pod: { resources: { requests: { cpu: 2, memory: '1Gi' } } } });
    const resources = buildStatefulSet(custom, { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!.containers[0]!.resources!;
    assert.deepEqual(resources, { requests: { cpu: '2', memory: '1Gi' } });
  });

  it('spreads the replicas over nodes and zones by default, preferring rather than requiring it', () => {
    const pod = buildStatefulSet(relay, { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!;
    assert.deepEqual(
      pod.topologySpreadConstraints!.map((c) => [c.topologyKey, c.maxSkew, c.whenUnsatisfiable]),
      [
        ['kubernetes.io/hostname', 1, 'ScheduleAnyway'],
        ['topology.kubernetes.io/zone', 1, 'ScheduleAnyway'],
      ],
    );
    const selector = buildStatefulSet(relay, { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.selector;
    for (const c of pod.topologySpreadConstraints!) assert.deepEqual(c.labelSelector, selector, 'counts exactly this relay\'s pods');
  });

  it('takes spec.pod.topologySpreadConstraints instead of the default spread, and an empty list turns spreading off', () => {
    const own = [{ maxSkew: 2, topologyKey: 'example.com/rack', whenUnsatisfiable: 'DoNotSchedule' as const }];
    const build = (pod: MailRelay['spec']['pod']) => buildStatefulSet(sampleRelay({ pod }), { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!;
    assert.deepEqual(build({ topologySpreadConstraints: own }).topologySpreadConstraints, own);
    assert.deepEqual(build({ topologySpreadConstraints: [] }).topologySpreadConstraints, []);
    const affinity = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { a: 'b' } } }] } };
    assert.deepEqual(build({ affinity }).affinity, affinity);
  });

  it('maps Service ports 25/465/587 to the container ports by name', () => {
    const svc = buildClientService(sampleRelay({ listeners: [{ name: 'smtp', port: 25, tls: 'none', auth: 'none', submission: false }] }));
    assert.deepEqual(svc.spec!.ports![0], { name: 'smtp', port: 25, targetPort: 'smtp', protocol: 'TCP' });
    const sts = buildStatefulSet(sampleRelay({ listeners: [{ name: 'smtp', port: 25, tls: 'none', auth: 'none', submission: false }] }), { defaultImage: 'x', configHash: 'h', dkimKeys: [] });
    assert.equal(sts.spec!.template.spec!.containers[0]!.ports!.find((p) => p.name === 'smtp')?.containerPort, 10025);
  });
});

describe('NetworkPolicy', () => {
  const withPolicy = (overrides: Partial<MailRelay['spec']>, networkPolicy: Partial<MailRelay['spec']['networkPolicy']> = {}) =>
    sampleRelay({ ...overrides, networkPolicy: { enabled: true, ingressFrom: [], metricsFrom: [], ...networkPolicy } });

  it('matches its golden file: listeners and HTTP from ingressFrom, metrics from metricsFrom, egress to DNS and port 25 only', () => {
    const relay = withPolicy(
      { delivery: { ...sampleRelay().spec.delivery, resolvers: ['10.96.0.10', '10.0.0.53:5353', '[fd00::53]:5300'] } },
      { ingressFrom: [{ namespaceSelector: { matchLabels: { team: 'mail' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.9.0.0/16'] } }], metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    );
    assertGolden('network-policy', buildRelayNetworkPolicy(relay));
  });

  it('is left out unless spec.networkPolicy.enabled', () => {
    assert.equal(buildRelayNetworkPolicy(sampleRelay()), undefined);
  });

  it('lets anyone reach the listeners and metrics when no peers are given, and selects exactly the relay pods', () => {
    const relay = withPolicy({ http: { enabled: false, port: 8080 } });
    const np = buildRelayNetworkPolicy(relay)!;
    assert.deepEqual(np.spec!.ingress, [
      { ports: [{ protocol: 'TCP', port: 'submission' }, { protocol: 'TCP', port: 'smtps' }, { protocol: 'TCP', port: 'internal' }] },
      { ports: [{ protocol: 'TCP', port: 'metrics' }] },
      { ports: [{ protocol: 'TCP', port: 'admin' }] },
    ]);
    assert.deepEqual(np.spec!.podSelector, buildStatefulSet(relay, { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.selector);
    const containerPorts = buildStatefulSet(relay, { defaultImage: 'x', configHash: 'h', dkimKeys: [] }).spec!.template.spec!.containers[0]!.ports!.map((p) => p.name);
    for (const rule of np.spec!.ingress!) for (const p of rule.ports!) assert.ok(containerPorts.includes(String(p.port)), `${p.port} names a container port`);
  });

  it('in smarthost mode allows egress to the smarthost port instead of port 25, narrowed to its address when it is one', () => {
    const smarthost = (host: string) =>
      buildRelayNetworkPolicy(withPolicy({ delivery: { ...sampleRelay().spec.delivery, mode: 'smarthost', smarthost: { host, port: 2587, tls: 'starttls' } } }))!.spec!.egress!;
    assert.deepEqual(smarthost('192.0.2.25').at(-1), { to: [{ ipBlock: { cidr: '192.0.2.25/32' } }], ports: [{ protocol: 'TCP', port: 2587 }] });
    assert.deepEqual(smarthost('smtp.upstream.example').at(-1), { ports: [{ protocol: 'TCP', port: 2587 }] });
    assert.ok(!smarthost('smtp.upstream.example').some((r) => r.ports?.some((p) => p.port === 25)), 'no port 25 in smarthost mode');
  });
});

describe('auth files', () => {
  const sds = [sampleDomain('a', 'a.example', { allowedSenders: ['app1'] }), sampleDomain('b', 'b.example')];

  it('gives each client the domains that allow it, and leaves out a client no domain allows', () => {
    assert.deepEqual(allowedDomainsFor('app1', sds), ['a.example', 'b.example']);
    assert.deepEqual(allowedDomainsFor('other', sds), ['b.example']);
    assert.equal(allowedDomainsFor('other', [sds[0]!]), undefined);
    assert.deepEqual(allowedDomainsFor('anyone', []), []);
  });

  it('writes a users file the relay parses, with hashes the relay verifies (and the other way round)', async () => {
    const hash = await hashPassword('s3cret pass');
    const users = parseUsers(parse(buildUsersFile([{ username: 'app1', passwordHash: hash, allowedSenderDomains: ['a.example'] }])), 'users.yaml');
    assert.equal(users[0]!.username, 'app1');
    assert.equal(await verifyPassword('s3cret pass', parsePasswordHash(users[0]!.passwordHash)!), true);
    assert.equal(await verifyPassword('wrong', parsePasswordHash(users[0]!.passwordHash)!), false);
    assert.equal(await passwordMatches('relay side', await relayHash('relay side')), true);
    assert.equal(await passwordMatches('nope', await relayHash('relay side')), false);
  });

  it('writes tokens in a stable order', () => {
    const a = buildTokensFile([{ name: 'b', token: 't2', allowedSenderDomains: [] }, { name: 'a', token: 't1', allowedSenderDomains: ['x.example'] }]);
    assert.deepEqual(parse(a), [
      { name: 'a', token: 't1', allowedSenderDomains: ['x.example'] },
      { name: 'b', token: 't2', allowedSenderDomains: [] },
    ]);
  });
});

describe('DNS records', () => {
  it('suggests SPF with the relay host name and DMARC with the chosen policy', () => {
    const sd = sampleDomain('example-com', 'example.com', { dns: { spfInclude: ['include:_spf.example.net'], dmarcPolicy: 'quarantine', dmarcReportAddress: 'dmarc@example.com' } });
    const records = buildDnsRecords(sd, { relayHostname: 'relay.example.com' });
    assertGolden('dns-records', records);
  });

  it('splits a 2048-bit RSA DKIM record into strings of at most 255 bytes', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const [dkim] = buildDnsRecords(sampleDomain('d', 'example.com'), { dkim: { selector: 'mr2026', publicKey } });
    assert.equal(dkim!.name, 'mr2026._domainkey.example.com');
    assert.ok(dkim!.strings!.length >= 2);
    assert.ok(dkim!.strings!.every((s) => Buffer.byteLength(s) <= 255));
    assert.equal(dkim!.strings!.join(''), dkim!.value);
    assert.deepEqual(splitTxt(''), ['']);
  });

  for (const type of ['rsa', 'ed25519'] as const) {
    it(`publishes a ${type} DKIM record that verifies mail the relay signs with the key`, async () => {
      const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
      const [record] = buildDnsRecords(sampleDomain('d', 'example.com'), { dkim: { selector: 'sel', publicKey: pair.publicKey } });
      const message = Buffer.from('From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nhello\r\n');
      const header = signMessage(message, { domain: 'example.com', selector: 'sel', algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256', privateKey: pair.privateKey }, { timestamp: 1_800_000_000 });
      const result = await dkimVerify(Buffer.concat([Buffer.from(header, 'latin1'), message]), {
        resolver: async (name: string) => {
          if (name === record!.name) return [record!.strings!];
          throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        },
      });
      assert.equal(result.results[0]?.status.result, 'pass');
    });
  }
});

describe('conditions', () => {
  it('keeps lastTransitionTime while the status holds and moves it on a flip', () => {
    const first = buildConditions(undefined, [{ type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: '0/1' }], 1, '2026-01-01T00:00:00Z');
    const same = buildConditions(first, [{ type: 'Ready', status: 'False', reason: 'ReplicasNotReady', message: '0/1 still' }], 2, '2026-01-02T00:00:00Z');
    assert.equal(same[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.equal(same[0]!.observedGeneration, 2);
    const flipped = buildConditions(same, [{ type: 'Ready', status: 'True', reason: 'AllReplicasReady', message: '1/1' }], 2, '2026-01-03T00:00:00Z');
    assert.equal(flipped[0]!.lastTransitionTime, '2026-01-03T00:00:00Z');
  });
});
