/** Labels and annotations of owned objects. The only place their keys are spelled. */

const MANAGER = 'mail-relay-operator';


export const annotations = {
  /** Hash of everything the relay pod reads at start-up; a change rolls the pods. */
  configHash: 'mailrelay.dev/config-hash',
  dkimSelector: 'mailrelay.dev/dkim-selector',
  dkimAlgorithm: 'mailrelay.dev/dkim-algorithm',
  /** When the operator generated a DKIM key (its clock): rotation tells a lost pending key by it. */
  dkimCreatedAt: 'mailrelay.dev/dkim-created-at',
};

export const labelKeys = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  partOf: 'app.kubernetes.io/part-of',
  sendingDomain: 'mailrelay.dev/sending-domain',
  /**
   * "true" on every relay pod (the pod template) and in the client Service's selector; the
   * operator sets "false" on a pod that drains for a scale-down, which takes it out of the
   * Service at once without restarting it.
   */
  serving: 'mailrelay.dev/serving',
};

/** Well-known node labels the relay pods spread over. */
export const topologyKeys = {
  hostname: 'kubernetes.io/hostname',
  zone: 'topology.kubernetes.io/zone',
};

/** Selects a relay's pods; stable for the life of the StatefulSet (its selector is immutable). */
export function relaySelectorLabels(relay: string): Record<string, string> {
  return { [labelKeys.name]: 'mail-relay', [labelKeys.instance]: relay, [labelKeys.component]: 'relay' };
}

export function relayLabels(relay: string): Record<string, string> {
  return { ...relaySelectorLabels(relay), [labelKeys.managedBy]: MANAGER, [labelKeys.partOf]: 'mail-relay-operator' };
}

/** The labels of a relay's pods: the template's, the serving label included. */
export function relayPodLabels(relay: string): Record<string, string> {
  return { ...relayLabels(relay), [labelKeys.serving]: 'true' };
}

/** The pods the client Service sends connections to: the relay's, less those draining. */
export function relayServingSelector(relay: string): Record<string, string> {
  return { ...relaySelectorLabels(relay), [labelKeys.serving]: 'true' };
}

export function sendingDomainLabels(sendingDomain: string): Record<string, string> {
  return { [labelKeys.name]: 'mail-relay', [labelKeys.component]: 'dkim-key', [labelKeys.sendingDomain]: sendingDomain, [labelKeys.managedBy]: MANAGER };
}

export const MANAGED_SELECTOR = `${labelKeys.managedBy}=${MANAGER}`;
