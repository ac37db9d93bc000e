import { isIP } from 'node:net';
import type { V1NetworkPolicy, V1NetworkPolicyEgressRule, V1NetworkPolicyIngressRule, V1NetworkPolicySpec, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { parseResolver } from '../../../relay/src/config/schema.ts';
import type { MailRelay } from '../api/v1alpha1/types.ts';
import { relayLabels, relaySelectorLabels } from './labels.ts';
import { names, ports } from './names.ts';
import { ownedMeta } from './owner.ts';

/** The wire form: client-node's model names `from` `_from` for its own serializer, and the applier sends plain JSON. */
export type IngressRule = Omit<V1NetworkPolicyIngressRule, '_from'> & { from?: V1NetworkPolicyPeer[] };
export type RelayNetworkPolicy = Omit<V1NetworkPolicy, 'spec'> & { spec: Omit<V1NetworkPolicySpec, 'ingress'> & { ingress: IngressRule[] } };

/**
 * The relay pods' NetworkPolicy, or undefined when spec.networkPolicy is off. Ingress: SMTP
 * listeners and HTTP API from spec.networkPolicy.ingressFrom, metrics and the admin API from
 * metricsFrom (empty lists mean anyone) and admin also from the relay's own pods; the unsubscribe
 * port from anyone. Egress: DNS,
 * where mail goes, the peers' admin API and the webhooks in relay.yaml (`webhookUrls`, the
 * relay's and its domains'), nothing else; relays never talk to the API server. Ports by name,
 * so they match the container ports behind the Service's. Pure.
 */
export function buildRelayNetworkPolicy(relay: MailRelay, webhookUrls: readonly string[] = []): RelayNetworkPolicy | undefined {
  const { spec } = relay;
  const np = spec.networkPolicy;
  if (!np.enabled) return undefined;
  const name = relay.metadata.name;
  const tcp = (port: number | string): V1NetworkPolicyPort => ({ protocol: 'TCP', port });
  const trafficPorts = [...spec.listeners.map((l) => tcp(l.name)), ...(spec.http.enabled ? [tcp('http')] : [])];
  const from = (peers: V1NetworkPolicyPeer[]): IngressRule => (peers.length > 0 ? { from: peers } : {});
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: ownedMeta(relay, names.relayNetworkPolicy(name), relayLabels(name)),
    spec: {
      podSelector: { matchLabels: relaySelectorLabels(name) },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { ...from(np.ingressFrom), ports: trafficPorts },
        { ...from(np.metricsFrom), ports: [tcp('metrics')] },
        // Mailbox providers POST one-click unsubscribes from anywhere; the token authenticates.
        ...(spec.unsubscribe ? [{ ports: [tcp('unsubscribe')] }] : []),
        // The admin API (token-authenticated): whoever may scrape metrics, which includes the
        // operator (it reads the pods' figures there), and the relay's own pods (drain handoff).
        { ...from([...np.metricsFrom, ...(np.metricsFrom.length > 0 ? [{ podSelector: { matchLabels: relaySelectorLabels(name) } }] : [])]), ports: [tcp('admin')] },
      ],
      egress: [...buildEgress(relay), ...buildWebhookEgress(webhookUrls)],
    },
  };
}

function buildEgress(relay: MailRelay): V1NetworkPolicyEgressRule[] {
  const { delivery } = relay.spec;
  // The pod's resolver (cluster DNS) wherever it runs; resolvers on another port by address.
  const rules: V1NetworkPolicyEgressRule[] = [{ ports: dnsPorts(ports.dns) }];
  // a leaving pod hands its queue to its peers' admin API (drain)
  rules.push({ to: [{ podSelector: { matchLabels: relaySelectorLabels(relay.metadata.name) } }], ports: [{ protocol: 'TCP', port: 'admin' }] });
  for (const resolver of delivery.resolvers.map(parseResolver)) {
    if (resolver && resolver.port !== ports.dns) rules.push({ to: [hostBlock(resolver.host)], ports: dnsPorts(resolver.port) });
  }
  if (delivery.mode === 'smarthost' && delivery.smarthost) {
    const { host, port } = delivery.smarthost;
    // A policy cannot name a host; an address literal at least narrows the rule to it.
    rules.push({ ...(isIP(host) ? { to: [hostBlock(host)] } : {}), ports: [{ protocol: 'TCP', port }] });
  } else {
    // 443: recipients' MTA-STS policies; blocked, an enforced policy could not be learnt
    rules.push({ ports: [{ protocol: 'TCP', port: ports.smtp }, { protocol: 'TCP', port: ports.https }] });
  }
  return rules;
}

/**
 * One rule per webhook port (and address, for an IP literal): like the smarthost, a policy
 * cannot name a host, so `https://hooks.example.com` opens TCP 443 to anywhere. Loopback
 * webhooks need no rule: a NetworkPolicy does not govern the pod's own loopback. The CRDs let
 * only https:// and loopback http:// through. Pure.
 */
export function buildWebhookEgress(urls: readonly string[]): V1NetworkPolicyEgressRule[] {
  const rules = new Map<string, V1NetworkPolicyEgressRule>();
  for (const text of urls) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      continue;
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1') continue;
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const rule: V1NetworkPolicyEgressRule = { ...(isIP(host) ? { to: [hostBlock(host)] } : {}), ports: [{ protocol: 'TCP', port }] };
    rules.set(JSON.stringify(rule), rule);
  }
  return [...rules.keys()].sort().map((k) => rules.get(k)!);
}

function dnsPorts(port: number): V1NetworkPolicyPort[] {
  return [
    { protocol: 'UDP', port },
    { protocol: 'TCP', port },
  ];
}

function hostBlock(ip: string): V1NetworkPolicyPeer {
  return { ipBlock: { cidr: `${ip}/${isIP(ip) === 6 ? 128 : 32}` } };
}

