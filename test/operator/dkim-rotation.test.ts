import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubernetesObject, V1ConfigMap, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { parseConfig } from '../../relay/src/config/parse-config.ts';
import { RestClient, resourcePath } from '../../operator/src/kube/rest-client.ts';
import type { Operator } from '../../operator/src/operator.ts';
import type { SendingDomain } from '../../operator/src/api/v1alpha1/types.ts';
import { getSharedControlPlane, type ControlPlane } from '../control-plane/control-plane.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { applyCrds, condition, repoRoot, startOperator } from './operator-helpers.ts';

const DAY = 86_400_000;
const CONFIG_HASH = 'mailrelay.dev/config-hash';

const manifests = `
apiVersion: mailrelay.dev/v1alpha1
kind: MailRelay
metadata: { name: outbound }
spec:
  replicas: 1
  hostname: relay.rotate.test
  listeners: [{ name: internal, port: 2525, tls: none, auth: none }]
  auth: { trustedNetworks: [10.0.0.0/8] }
  http: { enabled: false }
  delivery: { mode: mx }
---
apiVersion: mailrelay.dev/v1alpha1
kind: SendingDomain
metadata: { name: rotate }
spec:
  domain: rotate.test
  relayRef: { name: outbound }
  dkim:
    selector: mail
    generate: { algorithm: rsa-sha256 }
    rotation: { every: 90d, gracePeriod: 7d }
`;

/**
 * A 90-day rotation in seconds: the operator's clock is moved, the test DNS server publishes
 * what status.dnsRecords asks for, and the operator is restarted at every step, which it must
 * resume from the API server's record alone.
 */
describe('DKIM key rotation against a real API server and DNS server', { timeout: 300_000 }, () => {
  let cp: ControlPlane;
  let rest: RestClient;
  let ns: string;
  let dns: DnsServer;
  let operator: Operator | undefined;
  let offsetMs = 0;
  const now = () => new Date(Date.now() + offsetMs);

  const get = async <T extends KubernetesObject>(apiVersion: string, plural: string, name: string): Promise<T | undefined> => {
    try {
      return await rest.request<T>('GET', resourcePath(apiVersion, plural, ns, name));
    } catch (err) {
      if ((err as { status?: number }).status === 404 || /404|not found/i.test(String(err))) return undefined;
      throw err;
    }
  };
  const domain = () => get<SendingDomain & KubernetesObject>('mailrelay.dev/v1alpha1', 'sendingdomains', 'rotate');
  const relayDkim = async () => (await get<SendingDomain & KubernetesObject>('mailrelay.dev/v1alpha1', 'sendingdomains', 'rotate'))?.status?.dkim;
  const relayConfig = async () => {
    const yaml = (await get<V1ConfigMap>('v1', 'configmaps', 'outbound-config'))?.data?.['relay.yaml'];
    return yaml ? parseConfig(parse(yaml)).domains.find((d) => d.name === 'rotate.test')?.dkim : undefined;
  };
  const keyFiles = async () => Object.keys((await get<V1Secret>('v1', 'secrets', 'outbound-dkim'))?.data ?? {}).sort();
  const keySecrets = async () => {
    const list = JSON.parse(await cp.kubectl(['-n', ns, 'get', 'secrets', '-l', 'mailrelay.dev/sending-domain=rotate', '-o', 'json'])) as { items: V1Secret[] };
    return list.items.map((s) => s.metadata!.name!).sort();
  };
  const podHash = async () => (await get<V1StatefulSet>('apps/v1', 'statefulsets', 'outbound'))?.spec?.template.metadata?.annotations?.[CONFIG_HASH];
  const events = async () => {
    const list = JSON.parse(await cp.kubectl(['-n', ns, 'get', 'events', '-o', 'json'])) as { items: { reason: string; regarding?: { name?: string }; involvedObject?: { name?: string } }[] };
    return list.items.map((e) => e.reason);
  };
  /** Publishes every DKIM record status lists, as the domain's owner would. */
  const publish = async () => {
    for (const r of (await domain())?.status?.dnsRecords ?? []) if (r.purpose === 'dkim') dns.set(r.name, { txt: [r.strings!] });
  };
  const restart = async () => {
    await operator?.stop();
    operator = await startOperator(cp, ns, ['--resolvers', dns.server, '--dns-check-interval', '1s', '--resync', '2s'], now);
  };
  /** A few reconciles (resync 2 s, DNS check 1 s) after which nothing may have moved. */
  const settle = () => new Promise((r) => setTimeout(r, 4000));

  before(async () => {
    cp = await getSharedControlPlane();
    rest = new RestClient(cp.kubeConfig());
    await applyCrds(cp);
    ns = await cp.newNamespace('rot');
    dns = await startDnsServer();
    await restart();
    await cp.kubectl(['-n', ns, 'apply', '-f', '-'], { input: manifests });
  });

  after(async () => {
    await operator?.stop();
    await dns?.close();
  });

  let firstHash: string | undefined;
  let next = '';

  it('signs with the first key and records when it began', async () => {
    await waitFor('the first key in status and relay.yaml', async () => !!(await relayDkim())?.since && (await relayConfig())?.selector === 'mail', 30_000);
    const dkim = (await relayDkim())!;
    assert.equal(dkim.selector, 'mail');
    assert.equal(dkim.algorithm, 'rsa-sha256');
    assert.equal(dkim.pending, undefined);
    assert.equal((await relayConfig())!.privateKeyFile, '/etc/mail-relay/dkim/rotate.test.mail.key');
    assert.deepEqual(await keyFiles(), ['rotate.test.mail.key']);
    await publish();
    await waitFor('the pod template hash', async () => (await podHash()) !== undefined, 20_000);
    firstHash = await podHash();
  });

  it('at 90 days makes the next key under a new selector, lists it as pending and does not sign with it; a restart makes no second key', async () => {
    // the next key is ed25519: the algorithm changes with the next key, never in place
    await cp.kubectl(['-n', ns, 'patch', 'sendingdomain', 'rotate', '--type=merge', '-p', '{"spec":{"dkim":{"generate":{"algorithm":"ed25519-sha256"}}}}']);
    await settle();
    assert.equal((await relayDkim())!.algorithm, 'rsa-sha256', 'the signing key is not replaced by an algorithm change');
    offsetMs = 91 * DAY;
    await waitFor('a pending key', async () => (await relayDkim())?.pending !== undefined, 30_000);
    const month = now().toISOString().slice(0, 7).replace('-', '');
    next = `mr${month}1`;
    const dkim = (await relayDkim())!;
    assert.deepEqual([dkim.selector, dkim.pending!.selector, dkim.pending!.verified], ['mail', next, false]);
    const sd = await domain();
    assert.equal(condition(sd, 'DKIMKeyReady')?.reason, 'RotationPending');
    assert.equal(condition(sd, 'DKIMKeyReady')?.status, 'True');
    assert.equal((condition(sd, 'DKIMKeyReady') as { observedGeneration?: number }).observedGeneration, sd!.metadata.generation);
    assert.deepEqual(
      sd!.status!.dnsRecords!.filter((r) => r.purpose === 'dkim').map((r) => [r.name, r.state, r.verified]),
      [
        ['mail._domainkey.rotate.test', 'Active', true],
        [`${next}._domainkey.rotate.test`, 'Pending', false],
      ],
    );
    assert.match(sd!.status!.dnsRecords!.find((r) => r.state === 'Pending')!.value, /k=ed25519/);
    await waitFor('the next key mounted beside the active one', async () => (await keyFiles()).length === 2, 20_000);
    assert.deepEqual(await keyFiles(), ['rotate.test.mail.key', `rotate.test.${next}.key`]);

    await restart();
    await settle();
    const after = (await relayDkim())!;
    assert.deepEqual(after.pending, dkim.pending, 'the same pending key after the restart');
    assert.deepEqual(await keySecrets(), ['rotate-dkim-mail', `rotate-dkim-${next}`]);
    assert.equal((await relayConfig())!.selector, 'mail', 'never signs with a key DNS does not serve');
  });

  it('switches signing once DNS serves the record, keeps the previous key for the grace period, and rolls no pod', async () => {
    await publish();
    await waitFor('the switch', async () => (await relayDkim())?.selector === next, 30_000);
    const dkim = (await relayDkim())!;
    assert.equal(dkim.algorithm, 'ed25519-sha256');
    assert.equal(dkim.pending, undefined);
    assert.equal(dkim.retiring?.selector, 'mail');
    assert.equal(Date.parse(dkim.retiring!.until) - Date.parse(dkim.since!), 7 * DAY);
    assert.equal(condition(await domain(), 'DKIMKeyReady')?.reason, 'Rotated');
    await waitFor('relay.yaml on the new selector', async () => (await relayConfig())?.selector === next, 30_000);
    assert.deepEqual(await relayConfig(), { selector: next, privateKeyFile: `/etc/mail-relay/dkim/rotate.test.${next}.key`, algorithm: 'ed25519-sha256' });
    assert.deepEqual(await keyFiles(), ['rotate.test.mail.key', `rotate.test.${next}.key`], 'the previous key stays mounted');
    assert.deepEqual(
      (await domain())!.status!.dnsRecords!.filter((r) => r.purpose === 'dkim').map((r) => [r.name, r.state]),
      [
        [`${next}._domainkey.rotate.test`, 'Active'],
        ['mail._domainkey.rotate.test', 'Retiring'],
      ],
    );
    assert.equal(await podHash(), firstHash, 'the relay reloads the key live: no roll');

    await restart();
    await settle();
    assert.deepEqual(await relayDkim(), dkim, 'the grace period carries on after a restart');
  });

  it('retires the previous key after the grace period: record, Secret and mounted file gone', async () => {
    offsetMs += 8 * DAY;
    await waitFor('the retirement', async () => (await relayDkim())?.retiring === undefined, 30_000);
    assert.equal(condition(await domain(), 'DKIMKeyReady')?.reason, 'RotationRetired');
    await waitFor('the key Secret deleted', async () => (await keySecrets()).length === 1, 20_000);
    assert.deepEqual(await keySecrets(), [`rotate-dkim-${next}`]);
    await waitFor('the mounted file removed', async () => (await keyFiles()).length === 1, 20_000);
    assert.deepEqual(await keyFiles(), [`rotate.test.${next}.key`]);
    assert.deepEqual((await domain())!.status!.dnsRecords!.filter((r) => r.purpose === 'dkim').map((r) => r.state), ['Active']);
    const since = (await relayDkim())!.since;

    await restart();
    await settle();
    const dkim = (await relayDkim())!;
    assert.deepEqual([dkim.selector, dkim.since, dkim.pending], [next, since, undefined], 'no new rotation before 90 days');
    assert.match(condition(await domain(), 'DKIMKeyReady')!.message, /next rotation at /);
    const reasons = await events();
    for (const reason of ['RotationPending', 'RotationVerified', 'Rotated', 'RotationRetired']) assert.ok(reasons.includes(reason), `a ${reason} Event`);
    assert.equal(await podHash(), firstHash, 'no roll through the whole rotation');
  });

  it('accepts examples/dkim-rotation.yaml', async () => {
    const out = await cp.kubectl(['-n', ns, 'apply', '--dry-run=server', '-f', `${repoRoot}examples/dkim-rotation.yaml`]);
    assert.match(out, /sendingdomain\.mailrelay\.dev\/billing-example-com created \(server dry run\)/);
  });

  it('rotates on demand when rotateNow changes, to a selector never used before', async () => {
    await cp.kubectl(['-n', ns, 'patch', 'sendingdomain', 'rotate', '--type=merge', '-p', '{"spec":{"dkim":{"rotation":{"rotateNow":"incident-1"}}}}']);
    await waitFor('a pending key', async () => (await relayDkim())?.pending !== undefined, 30_000);
    const dkim = (await relayDkim())!;
    assert.equal(dkim.rotateNow, 'incident-1');
    assert.notEqual(dkim.pending!.selector, next);
    assert.notEqual(dkim.pending!.selector, 'mail');
    assert.equal(dkim.selector, next);
  });
});
