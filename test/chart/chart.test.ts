import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { AuthorizationV1Api } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { getSharedControlPlane } from '../control-plane/control-plane.ts';
import type { ControlPlane } from '../control-plane/control-plane.ts';
import { SETUP_TIMEOUT_MS, TEST_TIMEOUT_MS } from '../control-plane/test-timeouts.ts';
import { repoRoot } from '../control-plane/paths.ts';
import { ToolError } from '../control-plane/tools.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { chartCrdDir, chartDir, yamlFiles } from '../../scripts/chart/generated-files.ts';
import { parseOperatorOptions } from '../../operator/src/options.ts';
import { ALL_FEATURES, findOne, parseManifests } from './chart-objects.ts';
import type { KubeObject } from './chart-objects.ts';
import { waitForEstablished } from '../control-plane/crd-established.ts';

const monitoringCrds = readFileSync(join(import.meta.dirname, 'fixtures', 'monitoring-crds.yaml'), 'utf8');
const chartCrds = yamlFiles(chartCrdDir).map((f) => parse(readFileSync(join(chartCrdDir, f), 'utf8')) as KubeObject);

/** The operator's rules as its brief states them: the chart must grant exactly these. */
const OPERATOR_RULES = [
  { apiGroups: ['mailrelay.dev'], resources: ['mailrelays', 'sendingdomains'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['mailrelay.dev'], resources: ['mailrelays/status', 'sendingdomains/status'], verbs: ['get', 'patch', 'update'] },
  { apiGroups: [''], resources: ['configmaps', 'secrets', 'services'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: ['cert-manager.io'], resources: ['certificates'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['get', 'list', 'watch', 'delete'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];

interface Container {
  command: string[];
  args: string[];
  env: Array<{ name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  securityContext: Record<string, unknown>;
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  ports: Array<{ name: string; containerPort: number }>;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  image: string;
}

function operatorContainer(objects: KubeObject[]): Container {
  const deployment = findOne(objects, 'Deployment') as KubeObject & { spec: { template: { spec: { containers: Container[] } } } };
  const [container] = deployment.spec.template.spec.containers;
  assert.ok(container);
  return container;
}

function envOf(container: Container): Record<string, string> {
  return Object.fromEntries(container.env.map((e) => [e.name, e.value ?? `fieldRef:${e.valueFrom?.fieldRef?.fieldPath}`]));
}

/**
 * Whether a service account may do `verb` on `resource` ("secrets", "statefulsets.apps",
 * "mailrelays.mailrelay.dev/status") in `namespace` ("" = all), asked of the API server's RBAC
 * through a SubjectAccessReview: no discovery needed, so it works before the CRDs exist.
 */
async function canI(cp: ControlPlane, serviceAccount: string, verb: string, resource: string, namespace = ''): Promise<boolean> {
  const [ns, name] = serviceAccount.split('/') as [string, string];
  const [typeAndGroup, subresource] = resource.split('/') as [string, string | undefined];
  const dot = typeAndGroup.indexOf('.');
  const review = await cp.kubeConfig().makeApiClient(AuthorizationV1Api).createSubjectAccessReview({
    body: {
      spec: {
        user: `system:serviceaccount:${ns}:${name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
        resourceAttributes: {
          verb,
          resource: dot < 0 ? typeAndGroup : typeAndGroup.slice(0, dot),
          group: dot < 0 ? '' : typeAndGroup.slice(dot + 1),
          ...(subresource ? { subresource } : {}),
          namespace,
        },
      },
    },
  });
  return review.status?.allowed === true;
}

/** Each row: [verb, resource, namespace ('' for cluster scope), whether the account may]. */
type Access = readonly [string, string, string, boolean];

async function assertAccess(cp: ControlPlane, serviceAccount: string, rows: readonly Access[]): Promise<void> {
  for (const [verb, resource, namespace, allowed] of rows) {
    assert.equal(await canI(cp, serviceAccount, verb, resource, namespace), allowed, `${serviceAccount} ${verb} ${resource} in ${namespace || 'the cluster'}`);
  }
}

describe('Helm chart charts/mail-relay-operator', () => {
  let cp: ControlPlane;
  const template = async (args: string[] = [], namespace = 'mail-relay-system') =>
    parseManifests(await cp.helm(['template', 'mro', chartDir, '--namespace', namespace, ...args]));

  before(async () => {
    cp = await getSharedControlPlane();
    await cp.kubectl(['apply', '--server-side', '-f', '-'], { input: monitoringCrds });
    await waitForEstablished(cp, ['servicemonitors.monitoring.coreos.com', 'podmonitors.monitoring.coreos.com', 'prometheusrules.monitoring.coreos.com']);
  }, { timeout: SETUP_TIMEOUT_MS });

  it('passes helm lint --strict with defaults and with every optional feature on', { timeout: TEST_TIMEOUT_MS }, async () => {
    const defaults = await cp.helm(['lint', '--strict', chartDir]);
    assert.match(defaults, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    const all = await cp.helm(['lint', '--strict', chartDir, ...ALL_FEATURES, '--set', 'operator.watchNamespaces={team-a,team-b}']);
    assert.match(all, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('renders a hardened operator Deployment with probes, resources and the operator flags', { timeout: TEST_TIMEOUT_MS }, async () => {
    const objects = await template();
    const deployment = findOne(objects, 'Deployment') as KubeObject & {
      spec: { replicas: number; template: { spec: { securityContext: Record<string, unknown>; serviceAccountName: string } } };
    };
    assert.equal(deployment.spec.replicas, 1);
    const pod = deployment.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.runAsUser, 65532);
    assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    assert.equal(pod.serviceAccountName, findOne(objects, 'ServiceAccount').metadata.name);

    const container = operatorContainer(objects);
    assert.equal(container.image, 'ghcr.io/mail-relay-operator/mail-relay-operator:0.1.0', 'the tag defaults to appVersion');
    assert.deepEqual(container.command, ['mail-relay-operator']);
    assert.deepEqual(container.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
    assert.deepEqual(container.ports.map((p) => [p.name, p.containerPort]), [['metrics', 8080]]);
    assert.deepEqual(container.resources, { requests: { cpu: '50m', memory: '128Mi', 'ephemeral-storage': '64Mi' }, limits: { memory: '512Mi', 'ephemeral-storage': '256Mi' } });
    assert.deepEqual(container.args, ['--metrics-address', '0.0.0.0', '--metrics-port', '8080', '--leader-elect', '--lease-name', 'mail-relay-operator']);
    assert.deepEqual(envOf(container), {
      WATCH_NAMESPACES: '',
      RELAY_IMAGE: 'ghcr.io/mail-relay-operator/mail-relay-operator:0.1.0',
      LOG_LEVEL: 'info',
      POD_NAMESPACE: 'fieldRef:metadata.namespace',
      POD_NAME: 'fieldRef:metadata.name',
    });

    const tuned = operatorContainer(
      await template([...ALL_FEATURES, '--set', 'operator.watchNamespaces={team-a,team-b}', '--set', 'operator.logLevel=debug', '--set', 'image.tag=9.9.9']),
    );
    assert.equal(tuned.image, 'ghcr.io/mail-relay-operator/mail-relay-operator:9.9.9');
    assert.deepEqual(envOf(tuned), {
      WATCH_NAMESPACES: 'team-a,team-b',
      RELAY_IMAGE: 'registry.example/mail-relay:1.2.3',
      DNS_RESOLVERS: '10.96.0.10,127.0.0.1:5353',
      LOG_LEVEL: 'debug',
      POD_NAMESPACE: 'fieldRef:metadata.namespace',
      POD_NAME: 'fieldRef:metadata.name',
    });
    const single = operatorContainer(await template(['--set', 'operator.leaderElection.enabled=false']));
    assert.deepEqual(single.args, ['--metrics-address', '0.0.0.0', '--metrics-port', '8080', '--no-leader-elect']);
  });

  it('spreads operator replicas over nodes and zones by default; topologySpreadConstraints replaces it and defaultTopologySpread=false drops it', { timeout: TEST_TIMEOUT_MS }, async () => {
    type Spread = { topologyKey: string; whenUnsatisfiable: string; maxSkew: number; labelSelector?: { matchLabels: Record<string, string> } };
    const spreadOf = (objects: KubeObject[]) =>
      (findOne(objects, 'Deployment') as KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; template: { spec: { topologySpreadConstraints?: Spread[] } } } }).spec;
    const two = spreadOf(await template(['--set', 'operator.replicas=2']));
    assert.deepEqual(
      two.template.spec.topologySpreadConstraints?.map((c) => [c.topologyKey, c.maxSkew, c.whenUnsatisfiable]),
      [
        ['kubernetes.io/hostname', 1, 'ScheduleAnyway'],
        ['topology.kubernetes.io/zone', 1, 'ScheduleAnyway'],
      ],
    );
    for (const c of two.template.spec.topologySpreadConstraints ?? []) assert.deepEqual(c.labelSelector?.matchLabels, two.selector.matchLabels);
    const own = spreadOf(await template(['--set-json', 'operator.topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"example.com/rack","whenUnsatisfiable":"DoNotSchedule"}]']));
    assert.deepEqual(own.template.spec.topologySpreadConstraints, [{ maxSkew: 1, topologyKey: 'example.com/rack', whenUnsatisfiable: 'DoNotSchedule' }]);
    assert.equal(spreadOf(await template(['--set', 'operator.defaultTopologySpread=false'])).template.spec.topologySpreadConstraints, undefined);
  });

  it('gives two or more operator replicas a PodDisruptionBudget of maxUnavailable 1, and one replica none', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(!(await template()).some((o) => o.kind === 'PodDisruptionBudget'), 'one replica: a budget would block drains');
    const two = await template(['--set', 'operator.replicas=2']);
    const pdb = findOne(two, 'PodDisruptionBudget') as KubeObject & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } };
    const deployment = findOne(two, 'Deployment') as KubeObject & { spec: { selector: { matchLabels: Record<string, string> } } };
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
    assert.ok(!(await template(['--set', 'operator.replicas=2', '--set', 'operator.podDisruptionBudget.enabled=false'])).some((o) => o.kind === 'PodDisruptionBudget'));
  });

  it('starts the operator with flags and environment its option parser accepts', { timeout: TEST_TIMEOUT_MS }, async () => {
    const pod = { POD_NAMESPACE: 'mail-relay-system', POD_NAME: 'mro-mail-relay-operator-7d9f-abcde' };
    const parsed = (container: Container) => {
      const env = Object.fromEntries(
        Object.entries(envOf(container)).map(([k, v]) => [k, v.startsWith('fieldRef:') ? pod[k as keyof typeof pod] : v]),
      );
      assert.deepEqual(container.command, ['mail-relay-operator']);
      return parseOperatorOptions(container.args, env);
    };
    const defaults = parsed(operatorContainer(await template()));
    assert.equal(defaults.namespaces, 'all');
    assert.equal(defaults.leaderElect, true);
    assert.equal(defaults.leaseNamespace, 'mail-relay-system');
    assert.equal(defaults.leaseName, 'mail-relay-operator');
    assert.equal(defaults.identity, pod.POD_NAME);
    assert.equal(defaults.metricsPort, 8080);
    assert.equal(defaults.relayImage, 'ghcr.io/mail-relay-operator/mail-relay-operator:0.1.0');
    assert.deepEqual(defaults.resolvers, []);

    const tuned = parsed(
      operatorContainer(
        await template([...ALL_FEATURES, '--set', 'operator.watchNamespaces={team-a,team-b}', '--set', 'operator.logLevel=debug', '--set', 'operator.metricsPort=9443', '--set', 'operator.leaderElection.leaseName=mro-lease']),
      ),
    );
    assert.deepEqual(tuned.namespaces, ['team-a', 'team-b']);
    assert.equal(tuned.logLevel, 'debug');
    assert.equal(tuned.metricsPort, 9443);
    assert.equal(tuned.leaseName, 'mro-lease');
    assert.equal(tuned.relayImage, 'registry.example/mail-relay:1.2.3');
    assert.deepEqual(tuned.resolvers, ['10.96.0.10', '127.0.0.1:5353']);
    assert.equal(parsed(operatorContainer(await template(['--set', 'operator.leaderElection.enabled=false']))).leaderElect, false);
  });

  it('grants exactly the operator rules: cluster-wide by default, a Role per namespace when watchNamespaces is set', { timeout: TEST_TIMEOUT_MS }, async () => {
    const cluster = await template();
    assert.deepEqual(findOne(cluster, 'ClusterRole').rules, OPERATOR_RULES);
    const leases = findOne(cluster, 'Role');
    assert.equal(leases.metadata.namespace, 'mail-relay-system');
    assert.deepEqual(leases.rules, [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'patch'] }]);
    assert.equal(findOne(cluster, 'ClusterRoleBinding').metadata.name, findOne(cluster, 'ClusterRole').metadata.name);

    const namespaced = await template(['--set', 'operator.watchNamespaces={team-a,team-b}']);
    assert.equal(namespaced.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding').length, 0);
    const roles = namespaced.filter((o) => o.kind === 'Role' && o.metadata.name === 'mro-mail-relay-operator');
    assert.deepEqual(roles.map((r) => r.metadata.namespace), ['team-a', 'team-b']);
    for (const role of roles) assert.deepEqual(role.rules, OPERATOR_RULES);
    const bindings = namespaced.filter((o) => o.kind === 'RoleBinding' && o.metadata.name === 'mro-mail-relay-operator');
    assert.deepEqual(bindings.map((b) => [b.metadata.namespace, b.subjects]), [
      ['team-a', [{ kind: 'ServiceAccount', name: 'mro-mail-relay-operator', namespace: 'mail-relay-system' }]],
      ['team-b', [{ kind: 'ServiceAccount', name: 'mro-mail-relay-operator', namespace: 'mail-relay-system' }]],
    ]);
  });

  it('templates the CRDs from crds/ with the keep policy, and leaves them out when crds.enabled is false', { timeout: TEST_TIMEOUT_MS }, async () => {
    const rendered = (await template()).filter((o) => o.kind === 'CustomResourceDefinition');
    assert.deepEqual(rendered.map((c) => c.metadata.name).sort(), chartCrds.map((c) => c.metadata.name).sort());
    for (const crd of rendered) {
      const source = chartCrds.find((c) => c.metadata.name === crd.metadata.name);
      assert.deepEqual(crd.spec, source?.spec, `${crd.metadata.name}: the chart changes nothing in the spec`);
      assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
      assert.equal(crd.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
    }
    const notKept = (await template(['--set', 'crds.keep=false'])).filter((o) => o.kind === 'CustomResourceDefinition');
    assert.equal(notKept.length, chartCrds.length);
    for (const crd of notKept) assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], undefined);
    assert.equal((await template(['--set', 'crds.enabled=false'])).filter((o) => o.kind === 'CustomResourceDefinition').length, 0);
  });

  it('renders the monitoring objects only when enabled, selecting relay pods by the operator labels', { timeout: TEST_TIMEOUT_MS }, async () => {
    const defaults = await template();
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule']) assert.ok(!defaults.some((o) => o.kind === kind), `${kind} is off by default`);
    const dashboard = findOne(defaults, 'ConfigMap', 'mro-mail-relay-operator-dashboard');
    assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1');
    const json = JSON.parse((dashboard.data as Record<string, string>)['mail-relay.json'] ?? '') as { uid: string };
    assert.equal(json.uid, 'mail-relay');

    const all = await template([...ALL_FEATURES, '--set', 'grafanaDashboard.labels.grafana_dashboard=null', '--set', 'grafanaDashboard.labels.dashboards=mail']);
    assert.deepEqual(findOne(all, 'ConfigMap', 'mro-mail-relay-operator-dashboard').metadata.labels?.dashboards, 'mail');
    assert.equal(findOne(all, 'ConfigMap', 'mro-mail-relay-operator-dashboard').metadata.labels?.grafana_dashboard, undefined);

    const podMonitor = findOne(all, 'PodMonitor') as KubeObject & { spec: Record<string, unknown> };
    assert.deepEqual(podMonitor.spec.selector, {
      matchLabels: { 'app.kubernetes.io/name': 'mail-relay', 'app.kubernetes.io/component': 'relay', 'app.kubernetes.io/managed-by': 'mail-relay-operator' },
    });
    assert.deepEqual(podMonitor.spec.namespaceSelector, { any: true });
    assert.equal(podMonitor.spec.jobLabel, 'app.kubernetes.io/name');
    const [endpoint] = podMonitor.spec.podMetricsEndpoints as Array<{ port: string; relabelings: unknown[] }>;
    assert.equal(endpoint?.port, 'metrics');
    assert.deepEqual(endpoint?.relabelings, [{ sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_instance'], targetLabel: 'relay', action: 'replace' }]);

    const serviceMonitor = findOne(all, 'ServiceMonitor') as KubeObject & { spec: { selector: { matchLabels: Record<string, string> } } };
    const service = findOne(all, 'Service') as KubeObject & { spec: { selector: Record<string, string> } };
    assert.deepEqual(serviceMonitor.spec.selector.matchLabels, service.spec.selector);
    for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(service.metadata.labels?.[k], v, 'the ServiceMonitor selects the Service by its labels');

    const rule = findOne(all, 'PrometheusRule') as KubeObject & { spec: { groups: Array<{ rules: Array<{ alert: string }> }> } };
    const alerts = rule.spec.groups.flatMap((g) => g.rules.map((r) => r.alert));
    for (const name of ['MailRelayBounceRateNearPause', 'MailRelayComplaintRateNearPause', 'MailRelayDomainPaused', 'MailRelayDown', 'MailRelayQueueOldestMessageOld', 'MailRelayDeliveryFailing', 'MailRelayNoDeliveries', 'MailRelayOperatorReconcileErrors']) {
      assert.ok(alerts.includes(name), `alert ${name}`);
    }

    const namespaced = findOne(await template(['--set', 'podMonitor.enabled=true', '--set', 'operator.watchNamespaces={team-a}']), 'PodMonitor') as KubeObject & { spec: Record<string, unknown> };
    assert.deepEqual(namespaced.spec.namespaceSelector, { matchNames: ['team-a'] });
  });

  it('renders the operator NetworkPolicy only when enabled: metrics port in; API server, DNS and relay metrics out', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(!(await template()).some((o) => o.kind === 'NetworkPolicy'), 'off by default');
    type Port = { protocol: string; port: number | string };
    type Rule = { ports: Port[]; from?: unknown[]; to?: unknown[] };
    const policyOf = async (args: string[]) => {
      const objects = await template(['--set', 'networkPolicy.enabled=true', ...args]);
      const deployment = findOne(objects, 'Deployment') as KubeObject & { spec: { selector: { matchLabels: Record<string, string> } } };
      const np = findOne(objects, 'NetworkPolicy') as KubeObject & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: Rule[]; egress: Rule[] } };
      assert.deepEqual(np.spec.podSelector.matchLabels, deployment.spec.selector.matchLabels);
      return np.spec;
    };
    const defaults = await policyOf([]);
    assert.deepEqual(defaults.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(defaults.ingress, [{ ports: [{ protocol: 'TCP', port: 'metrics' }] }]);
    assert.deepEqual(defaults.egress.map((r) => r.ports.map((p) => `${p.protocol}/${p.port}`)), [['TCP/443', 'TCP/6443'], ['UDP/53', 'TCP/53'], ['TCP/9090']]);
    assert.deepEqual(defaults.egress[2]!.to, [
      { namespaceSelector: {}, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'mail-relay', 'app.kubernetes.io/component': 'relay', 'app.kubernetes.io/managed-by': 'mail-relay-operator' } } },
    ]);

    const monitoring = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } };
    const tuned = await policyOf([
      '--set-json', `networkPolicy.metricsFrom=${JSON.stringify([monitoring])}`,
      '--set-json', 'networkPolicy.apiServer.cidrs=["10.0.0.1/32"]',
      '--set-json', 'networkPolicy.extraEgress=[{"ports":[{"protocol":"UDP","port":5353}]}]',
    ]);
    assert.deepEqual(tuned.ingress[0]!.from, [monitoring]);
    assert.deepEqual(tuned.egress[0]!.to, [{ ipBlock: { cidr: '10.0.0.1/32' } }]);
    assert.deepEqual(tuned.egress.at(-1), { ports: [{ protocol: 'UDP', port: 5353 }] });
  });

  it('refuses bad values through values.schema.json and the template checks', { timeout: TEST_TIMEOUT_MS }, async () => {
    const refusal = async (...args: string[]) => {
      const err = await cp.helm(['template', 'mro', chartDir, ...args]).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ToolError, `helm template ${args.join(' ')} should fail`);
      return err.stderr;
    };
    assert.match(await refusal('--set', 'operator.logLevel=loud'), /logLevel/);
    assert.match(await refusal('--set', 'operator.bogus=1'), /additional properties 'bogus' not allowed/);
    assert.match(await refusal('--set', 'crds.enabled=yes please'), /crds\/enabled/);
    assert.match(await refusal('--set', 'operator.replicas=-1'), /replicas/);
    assert.match(await refusal('--set', 'operator.dnsResolvers={dns.example}'), /dnsResolvers/);
    assert.match(await refusal('--set', 'operator.watchNamespaces={Team_A}'), /watchNamespaces/);
    assert.match(await refusal('--set-json', 'prometheusRule.maxBounceRate=1.5'), /maxBounceRate': maximum/);
    assert.match(await refusal('--set', 'serviceMonitor.interval=soon'), /interval/);
    assert.match(await refusal('--set', 'operator.replicas=2', '--set', 'operator.leaderElection.enabled=false'), /leaderElection/);
  });

  it('is accepted by the API server in a server-side dry run, with defaults and with every feature on', { timeout: TEST_TIMEOUT_MS }, async () => {
    const namespace = await cp.newNamespace('chart-dry');
    const teamA = await cp.newNamespace('team-a');
    const teamB = await cp.newNamespace('team-b');
    // every namespaced object in the chart names its namespace
    const dryRun = (manifest: string) => cp.kubectl(['apply', '--dry-run=server', '--validate=strict', '-f', '-'], { input: manifest });

    const defaults = await cp.helm(['template', 'mro', chartDir, '--namespace', namespace]);
    const out = await dryRun(defaults);
    assert.match(out, /deployment\.apps\/mro-mail-relay-operator created \(server dry run\)/);
    assert.match(out, /clusterrole\.rbac\.authorization\.k8s\.io\/mro-mail-relay-operator created \(server dry run\)/);

    const all = await cp.helm(['template', 'mro', chartDir, '--namespace', namespace, ...ALL_FEATURES, '--set', `operator.watchNamespaces={${teamA},${teamB}}`]);
    const allOut = await dryRun(all);
    for (const line of [
      'servicemonitor.monitoring.coreos.com/mro-mail-relay-operator created (server dry run)',
      'podmonitor.monitoring.coreos.com/mro-mail-relay-operator-relays created (server dry run)',
      'prometheusrule.monitoring.coreos.com/mro-mail-relay-operator created (server dry run)',
      'configmap/mro-mail-relay-operator-dashboard created (server dry run)',
      'networkpolicy.networking.k8s.io/mro-mail-relay-operator created (server dry run)',
      'poddisruptionbudget.policy/mro-mail-relay-operator created (server dry run)',
    ]) {
      assert.ok(allOut.includes(line), `${line} in:\n${allOut}`);
    }
    assert.equal(allOut.match(/role\.rbac\.authorization\.k8s\.io\/mro-mail-relay-operator created/g)?.length, 2, 'one Role per watched namespace');

    // the fixture CRDs are strict about field names: a misspelt field is refused, so the check above has teeth
    const misspelt = all.replace('podMetricsEndpoints:', 'podMetricEndpoints:');
    const err = await dryRun(misspelt).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ToolError && /unknown field "spec.podMetricEndpoints"/.test(err.stderr), String(err));
  });

  it('installs into the control plane with a service account that may do what the operator needs and no more', { timeout: TEST_TIMEOUT_MS }, async () => {
    const namespace = await cp.newNamespace('chart-install');
    const other = await cp.newNamespace('chart-other');
    // from the packaged chart, as users get it: its CRDs and dashboard must be inside the archive
    const dir = await tempDir('chart-package-');
    await cp.helm(['package', chartDir, '--destination', dir]);
    await cp.helm(['install', 'mro', join(dir, 'mail-relay-operator-0.1.0.tgz'), '--namespace', namespace, '--timeout=60s']);

    const get = async (what: string, ns = namespace) => JSON.parse(await cp.kubectl(['get', what, '--namespace', ns, '-o', 'json'])) as KubeObject;
    assert.equal((await get('deployment/mro-mail-relay-operator')).metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
    await get('serviceaccount/mro-mail-relay-operator');
    await get('service/mro-mail-relay-operator-metrics');
    await get('configmap/mro-mail-relay-operator-dashboard');
    await get('role/mro-mail-relay-operator-leader-election');
    for (const crd of chartCrds) {
      await waitForEstablished(cp, [crd.metadata.name]);
    }

    // the samples the NOTES point to are accepted by the CRDs the chart installed
    const samples = await cp.kubectl(['apply', '--dry-run=server', '--validate=strict', '--namespace', other, '-f', join(repoRoot, 'crds', 'samples')]);
    assert.match(samples, /mailrelay\.mailrelay\.dev\/\S+ created \(server dry run\)/);
    assert.match(samples, /sendingdomain\.mailrelay\.dev\/\S+ created \(server dry run\)/);

    await assertAccess(cp, `${namespace}/mro-mail-relay-operator`, [
      ['watch', 'mailrelays.mailrelay.dev', '', true],
      ['patch', 'sendingdomains.mailrelay.dev/status', other, true],
      ['create', 'statefulsets.apps', other, true],
      ['delete', 'secrets', other, true],
      ['create', 'certificates.cert-manager.io', other, true],
      ['delete', 'networkpolicies.networking.k8s.io', other, true],
      ['create', 'events.events.k8s.io', other, true],
      ['update', 'leases.coordination.k8s.io', namespace, true],
      // and no more
      ['update', 'leases.coordination.k8s.io', other, false],
      ['delete', 'leases.coordination.k8s.io', namespace, false],
      ['update', 'mailrelays.mailrelay.dev', other, false],
      ['delete', 'sendingdomains.mailrelay.dev', other, false],
      ['list', 'pods', other, false],
      ['create', 'deployments.apps', other, false],
      ['get', 'nodes', '', false],
      ['create', 'clusterroles.rbac.authorization.k8s.io', '', false],
    ]);

    await cp.helm(['uninstall', 'mro', '--namespace', namespace, '--timeout=60s']);
    const gone = await cp.kubectl(['get', 'deployment/mro-mail-relay-operator', '--namespace', namespace, '--ignore-not-found', '-o', 'name']);
    assert.equal(gone.trim(), '');
    for (const crd of chartCrds) {
      const kept = await cp.kubectl(['get', `crd/${crd.metadata.name}`, '-o', 'name']);
      assert.equal(kept.trim(), `customresourcedefinition.apiextensions.k8s.io/${crd.metadata.name}`, 'crds.keep leaves the CRDs on uninstall');
    }
  });

  it('installs a namespaced release with every monitoring object, reaching only the watched namespaces', { timeout: TEST_TIMEOUT_MS }, async () => {
    const namespace = await cp.newNamespace('chart-ns');
    const watched = await cp.newNamespace('chart-watched');
    const other = await cp.newNamespace('chart-unwatched');
    // the CRDs belong to the cluster-wide release of the test above (kept); a second copy would clash
    await cp.helm(['install', 'scoped', chartDir, '--namespace', namespace, '--timeout=60s', ...ALL_FEATURES, '--set', 'crds.enabled=false', '--set', `operator.watchNamespaces={${watched}}`]);
    for (const what of ['servicemonitor/scoped-mail-relay-operator', 'podmonitor/scoped-mail-relay-operator-relays', 'prometheusrule/scoped-mail-relay-operator']) {
      assert.equal((await cp.kubectl(['get', what, '--namespace', namespace, '-o', 'name'])).trim().split('/')[1], what.split('/')[1]);
    }
    await assertAccess(cp, `${namespace}/scoped-mail-relay-operator`, [
      ['list', 'mailrelays.mailrelay.dev', watched, true],
      ['create', 'statefulsets.apps', watched, true],
      ['list', 'mailrelays.mailrelay.dev', other, false],
      ['list', 'mailrelays.mailrelay.dev', '', false],
      ['get', 'secrets', other, false],
    ]);
  });
});
