import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { applyCrds } from './crds.ts';

/** The API server itself refuses invalid specs, with the CRDs' CEL messages: no operator runs here. */
describe('CRD validation by the API server', { timeout: 120_000 }, () => {
  let cp: ControlPlane;
  let ns: string;
  const apply = async (yaml: string): Promise<string> => {
    try {
      await cp.kubectl(['apply', '-n', ns, '-f', '-'], { input: yaml });
      return '';
    } catch (err) {
      return String((err as Error).message);
    }
  };
  const relay = (spec: string) => `apiVersion: mailrelay.dev/v1alpha1\nkind: MailRelay\nmetadata: { name: r${Math.random().toString(36).slice(2, 8)} }\nspec:\n${spec}`;
  const named = (kind: string, name: string, spec: string) => `apiVersion: mailrelay.dev/v1alpha1\nkind: ${kind}\nmetadata: { name: ${name} }\nspec:\n${spec}`;
  const domain = (name: string, spec: string) => `apiVersion: mailrelay.dev/v1alpha1\nkind: SendingDomain\nmetadata: { name: ${name} }\nspec:\n${spec}`;

  before(async () => {
    cp = await getSharedControlPlane();
    await applyCrds(cp);
    ns = await cp.newNamespace('crd');
  });

  const cases: [string, string, RegExp][] = [
    ['TLS listeners without spec.tls', relay('  hostname: a.example\n  listeners: [{ name: s, port: 587, tls: starttls, auth: none }]\n'), /listeners with tls starttls or implicit need spec.tls/],
    ['AUTH over plain text', relay('  hostname: a.example\n  tls: { secretName: t }\n  auth: { usersSecretName: u }\n  listeners: [{ name: s, port: 587, tls: none, auth: required }]\n'), /auth required needs tls starttls or implicit/],
    ['AUTH without a users Secret', relay('  hostname: a.example\n  tls: { secretName: t }\n  listeners: [{ name: s, port: 587, tls: starttls, auth: required }]\n'), /need spec.auth.usersSecretName/],
    ['both a TLS Secret and an issuer', relay('  hostname: a.example\n  tls: { secretName: t, issuerRef: { name: i } }\n  listeners: [{ name: s, port: 2525, tls: none, auth: none }]\n'), /set exactly one of tls.secretName and tls.issuerRef/],
    ['smarthost mode without a smarthost', relay('  hostname: a.example\n  delivery: { mode: smarthost }\n  listeners: [{ name: s, port: 2525, tls: none, auth: none }]\n'), /delivery.mode smarthost needs delivery.smarthost/],
    ['two listeners on one port', relay('  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }, { name: b, port: 2525, tls: none, auth: none }]\n'), /each listener needs its own port/],
    ['a listener on the metrics port', relay('  hostname: a.example\n  listeners: [{ name: a, port: 9090, tls: none, auth: none }]\n'), /must differ from the metrics port/],
    ['an untrusted network that is not a CIDR', relay('  hostname: a.example\n  auth: { trustedNetworks: [not-a-cidr] }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /must be an IP address or CIDR/],
    ['generated and own DKIM key at once', domain('both', '  domain: both.example\n  relayRef: { name: r }\n  dkim: { generate: {}, secretRef: { name: k } }\n'), /set exactly one of dkim.generate and dkim.secretRef/],
    ['rotation of a key of the user\'s own', domain('byok', '  domain: byok.example\n  relayRef: { name: r }\n  dkim: { secretRef: { name: k }, rotation: { every: 90d } }\n'), /dkim.rotation needs dkim.generate/],
    ['a rotation period in seconds', domain('secs', '  domain: secs.example\n  relayRef: { name: r }\n  dkim: { generate: {}, rotation: { every: 90s } }\n'), /spec\.dkim\.rotation\.every/],
    ['an upper-case domain', domain('upper', '  domain: Example.COM\n  relayRef: { name: r }\n'), /spec.domain/],
    // Specs that used to pass admission and then could never be applied or run.
    [
      'listeners on 587 and 10587, one container port',
      relay('  hostname: a.example\n  listeners: [{ name: submission, port: 587, tls: none, auth: none }, { name: alt, port: 10587, tls: none, auth: none }]\n'),
      /spec\.listeners: Invalid value: .*listeners \["submission \(port 587\)", "alt \(port 10587\)"\] would share one container port/,
    ],
    [
      'a listener whose container port is spec.http.port',
      relay('  hostname: a.example\n  http: { port: 10587 }\n  listeners: [{ name: submission, port: 587, tls: none, auth: none }]\n'),
      /spec\.listeners: Invalid value: .*listeners \["submission \(port 587\)"\] would listen on container port 10587, which is spec\.http\.port/,
    ],
    ['the HTTP API on the metrics port', relay('  hostname: a.example\n  http: { port: 9090 }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /spec\.http\.port: Invalid value: .*http\.port 9090 is the metrics port/],
    ['a listener named like the metrics port', relay('  hostname: a.example\n  listeners: [{ name: metrics, port: 2525, tls: none, auth: none }]\n'), /spec\.listeners\[0\]\.name: Invalid value: .*listener name metrics is taken/],
    ['a listener name without a letter', relay('  hostname: a.example\n  listeners: [{ name: "2525", port: 2525, tls: none, auth: none }]\n'), /spec\.listeners\[0\]\.name: Invalid value: .*listener name 2525 must contain a letter/],
    ['a listener name with --', relay('  hostname: a.example\n  listeners: [{ name: a--b, port: 2525, tls: none, auth: none }]\n'), /listener name a--b must contain a letter and no --/],
    ['an empty spool volume', relay('  hostname: a.example\n  queue: { storage: { size: "0" } }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /spec\.queue\.storage\.size: Invalid value: .*queue\.storage\.size 0 must be more than 0/],
    ['a Service annotation key the API server refuses', relay('  hostname: a.example\n  service: { annotations: { "bad key!": "x", "ok.example/fine": "z" } }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /spec\.service\.annotations: Invalid value: .*service\.annotations: \["bad key!"\] are not valid annotation keys/],
    [
      'a MailRelay name too long for its pods',
      named('MailRelay', 'r'.repeat(53), '  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'),
      /metadata\.name r{53} has 53 characters; at most 52/,
    ],
    ['a MailRelay name that cannot name a Service', named('MailRelay', '1relay', '  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /metadata\.name 1relay must start with a letter/],
    ['a MailRelay name with a dot', named('MailRelay', 'my.relay', '  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /metadata\.name my\.relay must start with a letter and hold only/],
    ['a SendingDomain name too long for its DKIM key Secret', named('SendingDomain', 'd'.repeat(64), '  domain: long.example\n  relayRef: { name: r }\n'), /metadata\.name d{64} has 64 characters; at most 63/],
    // One-click unsubscribe and bulk-sender readiness.
    ['an http:// unsubscribe URL', relay('  hostname: a.example\n  unsubscribe: { url: "http://unsub.example.com" }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /spec\.unsubscribe\.url: Invalid value: .*must be an absolute https:\/\/ URL without query or fragment/],
    ['an unsubscribe URL with a query', relay('  hostname: a.example\n  unsubscribe: { url: "https://unsub.example.com/?list=1" }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /spec\.unsubscribe\.url: Invalid value/],
    ['the HTTP API on the unsubscribe port', relay('  hostname: a.example\n  http: { port: 8081 }\n  unsubscribe: { url: "https://unsub.example.com" }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /spec\.unsubscribe: Invalid value: .*port 8081 is the unsubscribe listener's/],
    ['a listener on the unsubscribe port', relay('  hostname: a.example\n  unsubscribe: { url: "https://unsub.example.com" }\n  listeners: [{ name: a, port: 8081, tls: none, auth: none }]\n'), /port 8081 is the unsubscribe listener's/],
    ['an egress address that is not one', relay('  hostname: a.example\n  delivery: { egressAddresses: [relay.example.com] }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n'), /spec\.delivery\.egressAddresses\[0\]: Invalid value: .*egress address relay\.example\.com must be an IP address or a CIDR/],
  ];
  for (const [what, yaml, message] of cases) {
    it(`refuses ${what}`, async () => {
      assert.match(await apply(yaml), message);
    });
  }

  it('accepts the longest MailRelay name, listeners on 25, 587 and 2525 beside the HTTP API, and valid Service annotations', async () => {
    const spec = '  hostname: a.example\n  service: { annotations: { "service.beta.kubernetes.io/aws-load-balancer-type": nlb } }\n  listeners: [{ name: smtp, port: 25, tls: none, auth: none }, { name: sub-1, port: 587, tls: none, auth: none }, { name: internal, port: 2525, tls: none, auth: none }]\n';
    assert.equal(await apply(named('MailRelay', `a${'b'.repeat(51)}`, spec)), '');
    assert.equal(await apply(named('SendingDomain', 'd'.repeat(63), '  domain: long.example\n  relayRef: { name: r }\n')), '');
  });

  it('accepts one-click unsubscribe with the HTTP API on its own port, egress addresses and CIDRs, and a bulk SendingDomain defaulting to not bulk', async () => {
    const spec = '  hostname: a.example\n  unsubscribe: { url: "https://unsub.example.com/", mailto: unsubscribe@b.example }\n  delivery: { egressAddresses: [192.0.2.10, "2001:db8::/48"] }\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n';
    assert.equal(await apply(named('MailRelay', 'bulk', spec)), '');
    assert.equal(await apply(domain('plain', '  domain: plain.example\n  relayRef: { name: bulk }\n')), '');
    const stored = JSON.parse(await cp.kubectl(['get', '-n', ns, 'sendingdomain/plain', '-o', 'json'])) as { spec: { bulk: boolean } };
    assert.equal(stored.spec.bulk, false);
  });

  it('accepts a valid MailRelay and then refuses changing its spool storage', async () => {
    const ok = `apiVersion: mailrelay.dev/v1alpha1\nkind: MailRelay\nmetadata: { name: fixed }\nspec:\n  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n`;
    assert.equal(await apply(ok), '');
    assert.match(await apply(`${ok}  queue: { storage: { size: 50Gi } }\n`), /queue.storage is immutable/);
  });

  it('accepts a SendingDomain and then refuses changing spec.domain', async () => {
    assert.equal(await apply(domain('fixed', '  domain: fixed.example\n  relayRef: { name: r }\n')), '');
    assert.match(await apply(domain('fixed', '  domain: other.example\n  relayRef: { name: r }\n')), /spec.domain is immutable/);
  });

  const podRelay = (pod: string) => relay(`  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n  pod:\n${pod}`);
  const podCases: [string, string, RegExp][] = [
    ['a misspelt field inside spec.pod.affinity', podRelay('    affinity: { nodeAfinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [] } } }\n'), /unknown field "spec\.pod\.affinity\.nodeAfinity"/],
    ['a misspelt field deep in a pod anti-affinity term', podRelay('    affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, podAffinityTerm: { topologyKey: kubernetes.io/hostname, labelSelectr: {} } }] } }\n'), /unknown field "spec\.pod\.affinity\.podAntiAffinity\.preferredDuringSchedulingIgnoredDuringExecution\[0\]\.podAffinityTerm\.labelSelectr"/],
    ['a misspelt toleration field', podRelay('    tolerations: [{ key: dedicated, operater: Exists }]\n'), /unknown field "spec\.pod\.tolerations\[0\]\.operater"/],
    ['a toleration operator the scheduler does not know', podRelay('    tolerations: [{ key: dedicated, operator: Equals, value: mail }]\n'), /spec\.pod\.tolerations\[0\]\.operator: Unsupported value: "Equals"/],
    ['a resource quantity that is not one', podRelay('    resources: { limits: { memory: lots } }\n'), /spec\.pod\.resources\.limits\.memory/],
    ['a misspelt resources field', podRelay('    resources: { request: { cpu: 100m } }\n'), /unknown field "spec\.pod\.resources\.request"/],
    ['a spread constraint without whenUnsatisfiable', podRelay('    topologySpreadConstraints: [{ maxSkew: 1, topologyKey: kubernetes.io/hostname }]\n'), /spec\.pod\.topologySpreadConstraints\[0\]\.whenUnsatisfiable: Required value/],
    ['a misspelt NetworkPolicy peer field', relay('  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n  networkPolicy: { enabled: true, ingressFrom: [{ podSelectr: {} }] }\n'), /unknown field "spec\.networkPolicy\.ingressFrom\[0\]\.podSelectr"/],
  ];
  for (const [what, yaml, message] of podCases) {
    it(`refuses ${what}, naming the field`, async () => {
      assert.match(await apply(yaml), message);
    });
  }

  it('accepts a valid affinity, tolerations, resources, spread and NetworkPolicy peers and keeps them as written', async () => {
    const pod = {
      resources: { requests: { cpu: 1, memory: '256Mi' }, limits: { memory: '1Gi' } },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'mail', effect: 'NoSchedule' }],
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64', 'arm64'] }] }] } },
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'valid' } } } }] },
      },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } }],
    };
    const networkPolicy = { enabled: true, ingressFrom: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], metricsFrom: [{ namespaceSelector: { matchLabels: { team: 'obs' } }, podSelector: {} }] };
    const yaml = `apiVersion: mailrelay.dev/v1alpha1\nkind: MailRelay\nmetadata: { name: valid }\nspec:\n  hostname: a.example\n  listeners: [{ name: a, port: 2525, tls: none, auth: none }]\n  pod: ${JSON.stringify(pod)}\n  networkPolicy: ${JSON.stringify(networkPolicy)}\n`;
    assert.equal(await apply(yaml), '');
    const stored = JSON.parse(await cp.kubectl(['get', '-n', ns, 'mailrelay/valid', '-o', 'json'])) as { spec: { pod: unknown; networkPolicy: unknown } };
    assert.deepEqual(stored.spec.pod, pod);
    assert.deepEqual(stored.spec.networkPolicy, networkPolicy);
  });

  it('kubectl explain shows the fields of spec.pod.resources and spec.pod.affinity', async () => {
    assert.match(await cp.kubectl(['explain', 'mailrelays.spec.pod.resources']), /limits\s+<map\[string\]/);
    assert.match(await cp.kubectl(['explain', 'mailrelays.spec.pod.affinity.podAntiAffinity']), /preferredDuringSchedulingIgnoredDuringExecution\s+<\[\]Object>/);
  });
});
