import { BlockList, isIP } from 'node:net';
import { Reasons, type MailRelay, type SendingDomain } from '../api/v1alpha1/types.ts';
import type { DnsRecord } from '../resources/dns-records.ts';
import type { RecordCheck } from './dns-verifier.ts';
import type { DeliveryTlsFigures } from './relay-figures.ts';

/**
 * The BulkSenderReady condition: the rules Gmail and Yahoo set for bulk senders (from February
 * 2024), checked against what DNS serves and what the relay reports. Pure: the caller looks
 * records up and reads the figures.
 */

/** Complaints per delivered message over 24 h: the providers' hard limit. */
export const MAX_COMPLAINT_RATE = 0.003;
/** Google's recommendation: above it the condition stays True with a warning reason. */
export const WARN_COMPLAINT_RATE = 0.001;
/** Share of deliveries to the big providers that must use TLS. */
export const MIN_TLS_SHARE = 0.99;

export interface BulkSenderInputs {
  readonly domain: string;
  /** The DNS check of the DKIM record of the key that signs; undefined while there is no key. */
  readonly dkim: RecordCheck | undefined;
  readonly spf: RecordCheck | undefined;
  readonly dmarc: RecordCheck | undefined;
  /** MailRelay.spec.delivery.egressAddresses: public addresses or CIDRs SPF must list. */
  readonly egressAddresses: readonly string[];
  /** Complaints per delivered message over 24 h; undefined before the relay has reported. */
  readonly complaintRate: number | undefined;
  /** spec.bulk or a category with bulk. */
  readonly bulk: boolean;
  /** MailRelay.spec.unsubscribe is set, so the relay adds one-click headers to bulk mail. */
  readonly unsubscribe: boolean;
  /** Share (0..1) of deliveries to the big providers (relay-wide, since the pods started) that used TLS; undefined when not known. */
  readonly tlsShare: number | undefined;
}

export interface BulkSenderReadiness {
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

interface Finding {
  readonly fails: boolean;
  readonly reason: string;
  readonly message: string;
}

function percent(rate: number): string {
  return `${(rate * 100).toFixed(2)}%`;
}

/** The single published record a check found, when there is exactly one. */
function single(check: RecordCheck | undefined): string | undefined {
  return check?.published?.length === 1 ? check.published[0] : undefined;
}

/** The p= tag of a DMARC record: RFC 7489 6.3 requires it; none, quarantine and reject are its values. */
export function dmarcPolicy(record: string): string | undefined {
  for (const part of record.split(';')) {
    const [k, v] = part.split('=', 2).map((s) => s.trim().toLowerCase());
    if (k === 'p') return v === 'none' || v === 'quarantine' || v === 'reject' ? v : undefined;
  }
  return undefined;
}

/**
 * Egress entries the SPF record's ip4:/ip6: mechanisms do not cover. Only literal networks count:
 * a, mx and include: are not followed (they would need further lookups, up to RFC 7208's ten),
 * so list the egress addresses themselves. A network is covered by a mechanism whose prefix is
 * no longer than its own and which contains its first address.
 */
export function uncoveredEgress(spf: string, egress: readonly string[]): string[] {
  const networks: { address: string; bits: number; family: 'ipv4' | 'ipv6' }[] = [];
  for (const term of spf.toLowerCase().split(/\s+/)) {
    const m = /^\+?(ip4|ip6):([^/]+)(?:\/(\d{1,3}))?$/.exec(term);
    if (!m) continue;
    const [, kind, address, prefix] = m as unknown as [string, 'ip4' | 'ip6', string, string | undefined];
    const max = kind === 'ip4' ? 32 : 128;
    const bits = prefix === undefined ? max : Number(prefix);
    if (isIP(address) === (kind === 'ip4' ? 4 : 6) && bits <= max) networks.push({ address, bits, family: kind === 'ip4' ? 'ipv4' : 'ipv6' });
  }
  return egress.filter((entry) => {
    const [address = '', prefix] = entry.split('/');
    const version = isIP(address);
    if (version === 0) return true;
    const bits = prefix === undefined ? (version === 4 ? 32 : 128) : Number(prefix);
    const family = version === 4 ? 'ipv4' : 'ipv6';
    const wide = new BlockList();
    for (const n of networks) if (n.family === family && n.bits <= bits) wide.addSubnet(n.address, n.bits, n.family);
    return !wide.check(address, family);
  });
}

function dkimRule(i: BulkSenderInputs): Finding[] {
  // The relay signs with d= the SendingDomain's domain and only for senders within it, so a
  // verified key is aligned with the From: domain by construction (relaxed alignment).
  if (i.dkim?.outcome === 'published') return [];
  const why = i.dkim ? i.dkim.result : 'no DKIM key yet';
  return [{ fails: true, reason: Reasons.DkimNotVerified, message: `DKIM: ${why}; publish the dkim record of status.dnsRecords` }];
}

function spfRule(i: BulkSenderInputs): Finding[] {
  const record = single(i.spf);
  if (record === undefined) {
    const why = i.spf ? i.spf.result : 'not checked yet';
    return [{ fails: true, reason: Reasons.SpfMissing, message: `SPF: ${why}; publish one v=spf1 TXT record at ${i.domain} (see status.dnsRecords)` }];
  }
  const missing = uncoveredEgress(record, i.egressAddresses);
  if (missing.length > 0) {
    const terms = missing.map((m) => `${isIP(m.split('/')[0] ?? '') === 6 ? 'ip6' : 'ip4'}:${m}`).join(' ');
    return [{ fails: true, reason: Reasons.SpfMissesEgress, message: `SPF at ${i.domain} does not list the relay's egress ${missing.join(', ')} (includes are not followed); add ${terms}` }];
  }
  return [];
}

function dmarcRule(i: BulkSenderInputs): Finding[] {
  const record = single(i.dmarc);
  if (record === undefined) {
    const why = i.dmarc ? i.dmarc.result : 'not checked yet';
    return [{ fails: true, reason: Reasons.DmarcMissing, message: `DMARC: ${why}; publish one v=DMARC1 TXT record at _dmarc.${i.domain}` }];
  }
  // p=none satisfies Gmail and Yahoo: they ask for a DMARC record with a policy, not enforcement.
  if (dmarcPolicy(record) === undefined) {
    return [{ fails: true, reason: Reasons.DmarcNoPolicy, message: `DMARC record at _dmarc.${i.domain} has no valid p= tag; add p=none, p=quarantine or p=reject` }];
  }
  return [];
}

function complaintRule(i: BulkSenderInputs): Finding[] {
  const rate = i.complaintRate;
  if (rate === undefined) return [];
  if (rate >= MAX_COMPLAINT_RATE) {
    return [{ fails: true, reason: Reasons.ComplaintRateTooHigh, message: `complaint rate ${percent(rate)} (24 h) is at or over ${percent(MAX_COMPLAINT_RATE)}; clean the lists and stop mailing who did not ask` }];
  }
  if (rate >= WARN_COMPLAINT_RATE) {
    return [{ fails: false, reason: Reasons.ComplaintRateElevated, message: `complaint rate ${percent(rate)} (24 h) is over Google's recommended ${percent(WARN_COMPLAINT_RATE)}` }];
  }
  return [];
}

function unsubscribeRule(i: BulkSenderInputs): Finding[] {
  if (!i.bulk || i.unsubscribe) return [];
  return [{ fails: true, reason: Reasons.NoOneClickUnsubscribe, message: 'the domain sends bulk mail but its MailRelay has no spec.unsubscribe, so messages carry no one-click List-Unsubscribe; set spec.unsubscribe.url' }];
}

function tlsRule(i: BulkSenderInputs): Finding[] {
  if (i.tlsShare === undefined) return [{ fails: false, reason: Reasons.DeliveryTlsUnknown, message: 'share of TLS deliveries to the big providers not known yet' }];
  if (i.tlsShare < MIN_TLS_SHARE) {
    return [{ fails: true, reason: Reasons.LowDeliveryTls, message: `${percent(i.tlsShare)} of deliveries to the big providers used TLS, under ${percent(MIN_TLS_SHARE)}; check the relay's outbound STARTTLS` }];
  }
  return [];
}

/**
 * Every rule is checked and its finding (failures and warnings) named in the message, so one look says everything to fix; the reason
 * is the first failing rule in the order DNS, reputation, headers, transport. Warnings and
 * unknowns keep the status True and name the reason when nothing fails.
 */
export function decideBulkSenderReadiness(i: BulkSenderInputs): BulkSenderReadiness {
  const findings = [...dkimRule(i), ...spfRule(i), ...dmarcRule(i), ...complaintRule(i), ...unsubscribeRule(i), ...tlsRule(i)];
  const failing = findings.filter((f) => f.fails);
  if (failing.length > 0) return { status: 'False', reason: failing[0]!.reason, message: findings.map((f) => f.message).join('; ') };
  if (findings.length > 0) return { status: 'True', reason: findings[0]!.reason, message: ['meets the bulk-sender rules', ...findings.map((f) => f.message)].join('; ') };
  return { status: 'True', reason: Reasons.RulesMet, message: 'meets the bulk-sender rules: DKIM, SPF and DMARC published, complaint rate low, one-click unsubscribe, TLS deliveries' };
}

/**
 * The inputs from a SendingDomain, its MailRelay (if found) and this reconcile's DNS checks
 * (`checks[i]` is the check of `records[i]`). The DKIM record is the one of the key that signs:
 * without rotation the only one, with rotation the Active one.
 */
export function bulkSenderInputsOf(
  sd: SendingDomain,
  relay: MailRelay | undefined,
  records: readonly DnsRecord[],
  checks: readonly RecordCheck[],
  figures: { readonly complaintRate: number | undefined; readonly deliveryTls: DeliveryTlsFigures | undefined },
): BulkSenderInputs {
  const checkOf = (match: (r: DnsRecord) => boolean) => {
    const at = records.findIndex(match);
    return at < 0 ? undefined : checks[at];
  };
  return {
    domain: sd.spec.domain,
    dkim: checkOf((r) => r.purpose === 'dkim' && (r.state === undefined || r.state === 'Active')),
    spf: checkOf((r) => r.purpose === 'spf'),
    dmarc: checkOf((r) => r.purpose === 'dmarc'),
    egressAddresses: relay?.spec.delivery.egressAddresses ?? [],
    complaintRate: figures.complaintRate,
    bulk: sd.spec.bulk || (sd.spec.categories ?? []).some((c) => c.bulk),
    unsubscribe: relay?.spec.unsubscribe !== undefined,
    tlsShare: figures.deliveryTls ? figures.deliveryTls.tls / figures.deliveryTls.delivered : undefined,
  };
}
