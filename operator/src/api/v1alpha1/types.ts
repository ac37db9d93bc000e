/**
 * The two kinds as the operator sees them: metadata from the API server plus the spec and status
 * types generated from crds/ (types.generated.ts), and the condition vocabulary.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { MailRelaySpec, MailRelayStatus, SendingDomainSpec, SendingDomainStatus } from './types.generated.ts';

export type { MailRelaySpec, MailRelayStatus, SendingDomainSpec, SendingDomainStatus };

export const GROUP = 'mailrelay.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface MailRelay {
  apiVersion: typeof API_VERSION;
  kind: 'MailRelay';
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: MailRelaySpec;
  status?: MailRelayStatus;
}

export interface SendingDomain {
  apiVersion: typeof API_VERSION;
  kind: 'SendingDomain';
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: SendingDomainSpec;
  status?: SendingDomainStatus;
}

export type Condition = NonNullable<MailRelayStatus['conditions']>[number];
export type ConditionStatus = Condition['status'];

export const MailRelayConditions = {
  Ready: 'Ready',
  Reconciled: 'Reconciled',
  Available: 'Available',
  /** True while a scale-down drains the leaving pods' queues (status.drain): True is not a failure here. */
  Draining: 'Draining',
} as const;

export const SendingDomainConditions = {
  Ready: 'Ready',
  DKIMKeyReady: 'DKIMKeyReady',
  DNSVerified: 'DNSVerified',
  /** True while the domain is paused: the one condition where True is not the healthy state, named so by DESIGN.md. */
  Paused: 'Paused',
  /** Every webhook of the domain has its signing key, so the relay sends the domain's events to all of them. */
  WebhooksReady: 'WebhooksReady',
  /** The domain meets the big mailbox providers' bulk-sender rules (bulk-sender-readiness.ts). */
  BulkSenderReady: 'BulkSenderReady',
} as const;

/** CamelCase reasons; never derived from an exception's class name. */
export const Reasons = {
  Reconciled: 'Reconciled',
  ApplyFailed: 'ApplyFailed',
  SecretNotFound: 'SecretNotFound',
  /** The API server refused to give a Secret (for example Forbidden); the message has its reason. */
  SecretUnreadable: 'SecretUnreadable',
  /** Every webhook has its signing key (or none is declared). */
  WebhooksConfigured: 'WebhooksConfigured',
  RelayNotFound: 'RelayNotFound',
  /** Relay pods refused the config mounted now (mailrelay_config_last_reload_success 0) and serve their last good one. */
  ConfigRejected: 'ConfigRejected',
  /** Another SendingDomain of the same relay, created earlier, has the domain. */
  DomainConflict: 'DomainConflict',
  AllReplicasReady: 'AllReplicasReady',
  ReplicasNotReady: 'ReplicasNotReady',
  RolloutInProgress: 'RolloutInProgress',
  NoReplicasReady: 'NoReplicasReady',
  KeyGenerated: 'KeyGenerated',
  KeyProvided: 'KeyProvided',
  InvalidKey: 'InvalidKey',
  /** DKIM rotation: the next key waits for DNS to serve its record; the active key still signs. */
  RotationPending: 'RotationPending',
  /** DKIM rotation: DNS serves the next key's record; it signs from the next reconcile. */
  RotationVerified: 'RotationVerified',
  /** DKIM rotation: the next key signs; the previous one stays published for the grace period. */
  Rotated: 'Rotated',
  /** DKIM rotation: the previous key and its record are gone after the grace period. */
  RotationRetired: 'RotationRetired',
  RecordsVerified: 'RecordsVerified',
  RecordsMissing: 'RecordsMissing',
  RecordMismatch: 'RecordMismatch',
  LookupFailed: 'LookupFailed',
  PausedBySpec: 'PausedBySpec',
  ReputationBreach: 'ReputationBreach',
  NotPaused: 'NotPaused',
  /** The Draining condition and the drain's Events (drain-decision.ts). */
  Draining: 'Draining',
  NotDraining: 'NotDraining',
  DrainStarted: 'DrainStarted',
  DrainCompleted: 'DrainCompleted',
  DrainFinished: 'DrainFinished',
  DrainCancelled: 'DrainCancelled',
  QueueRetained: 'QueueRetained',
  /** BulkSenderReady: one reason per rule; RulesMet when every rule is met. */
  RulesMet: 'RulesMet',
  DkimNotVerified: 'DkimNotVerified',
  SpfMissing: 'SpfMissing',
  SpfMissesEgress: 'SpfMissesEgress',
  DmarcMissing: 'DmarcMissing',
  DmarcNoPolicy: 'DmarcNoPolicy',
  ComplaintRateTooHigh: 'ComplaintRateTooHigh',
  /** Over Google's recommended 0.1% but under the 0.3% limit: the condition stays True. */
  ComplaintRateElevated: 'ComplaintRateElevated',
  NoOneClickUnsubscribe: 'NoOneClickUnsubscribe',
  LowDeliveryTls: 'LowDeliveryTls',
  /** No TLS figures from the relay yet: the rule does not fail. */
  DeliveryTlsUnknown: 'DeliveryTlsUnknown',
} as const;
