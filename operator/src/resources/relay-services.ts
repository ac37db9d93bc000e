import type { V1PodDisruptionBudget, V1Service, V1ServicePort } from '@kubernetes/client-node';
import type { MailRelay } from '../api/v1alpha1/types.ts';
import { relayLabels, relaySelectorLabels, relayServingSelector } from './labels.ts';
import { names, ports } from './names.ts';
import { ownedMeta } from './owner.ts';

function trafficPorts(relay: MailRelay): V1ServicePort[] {
  const { spec } = relay;
  return [
    ...spec.listeners.map((l) => ({ name: l.name, port: l.port, targetPort: l.name, protocol: 'TCP' })),
    ...(spec.http.enabled ? [{ name: 'http', port: spec.http.port, targetPort: 'http', protocol: 'TCP' }] : []),
    // so an Ingress or LoadBalancer can route spec.unsubscribe.url to it
    ...(spec.unsubscribe ? [{ name: 'unsubscribe', port: ports.unsubscribe, targetPort: 'unsubscribe', protocol: 'TCP' }] : []),
  ];
}

/** What clients connect to: SMTP on the well-known ports, the HTTP API and the unsubscribe links. */
export function buildClientService(relay: MailRelay): V1Service {
  const name = relay.metadata.name;
  const { service } = relay.spec;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(relay, names.relayClientService(name), relayLabels(name), Object.keys(service.annotations).length > 0 ? service.annotations : undefined),
    spec: {
      type: service.type,
      // not the pods draining for a scale-down (labelKeys.serving)
      selector: relayServingSelector(name),
      ports: trafficPorts(relay),
      // SMTP sessions are long and stateful; a client's retry should reach the same pod.
      ...(service.type === 'LoadBalancer' ? { externalTrafficPolicy: 'Local' } : {}),
    },
  };
}

/** Stable pod DNS names for the StatefulSet, and the metrics port for scraping. */
export function buildHeadlessService(relay: MailRelay): V1Service {
  const name = relay.metadata.name;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(relay, names.relayHeadlessService(name), relayLabels(name)),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: relaySelectorLabels(name),
      ports: [...trafficPorts(relay), { name: 'metrics', port: ports.metrics, targetPort: 'metrics', protocol: 'TCP' }],
    },
  };
}

/** Voluntary evictions take one relay pod at a time, so a node drain never empties the relay. */
export function buildPodDisruptionBudget(relay: MailRelay): V1PodDisruptionBudget {
  const name = relay.metadata.name;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMeta(relay, names.relayPdb(name), relayLabels(name)),
    spec: { maxUnavailable: 1, selector: { matchLabels: relaySelectorLabels(name) } },
  };
}
