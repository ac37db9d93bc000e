import { parseAllDocuments } from 'yaml';

/** The parts of a rendered Kubernetes object the chart tests read. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Every object in `helm template` output (empty documents dropped). */
export function parseManifests(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as KubeObject | null;
    })
    .filter((o): o is KubeObject => o !== null);
}

/** The one object of this kind (and name, when given); fails when there is none or more than one. */
export function findOne(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) {
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`);
  }
  return found[0] as KubeObject;
}

/** Every optional feature of the chart switched on. */
export const ALL_FEATURES = [
  'serviceMonitor.enabled=true',
  'podMonitor.enabled=true',
  'prometheusRule.enabled=true',
  'grafanaDashboard.enabled=true',
  'networkPolicy.enabled=true',
  'operator.replicas=2',
  'operator.dnsResolvers={10.96.0.10,127.0.0.1:5353}',
  'operator.relayImage=registry.example/mail-relay:1.2.3',
].flatMap((s) => ['--set', s]);
