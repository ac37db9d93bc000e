import type { KeyObject } from 'node:crypto';
import type { SendingDomain, SendingDomainStatus } from '../api/v1alpha1/types.ts';

export type DnsRecord = NonNullable<SendingDomainStatus['dnsRecords']>[number];
export type DkimAlgorithm = 'rsa-sha256' | 'ed25519-sha256';

/** A TXT value as character-strings of at most 255 bytes (RFC 1035 3.3.14); DKIM keys of RSA 2048 need two. */
export function splitTxt(value: string): string[] {
  const strings: string[] = [];
  for (let i = 0; i < value.length; i += 255) strings.push(value.slice(i, i + 255));
  return strings.length > 0 ? strings : [''];
}

/** The p= value: SubjectPublicKeyInfo for RSA (RFC 6376), the raw 32-byte key for Ed25519 (RFC 8463). */
export function dkimPublicKeyData(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return (publicKey.asymmetricKeyType === 'ed25519' ? der.subarray(der.length - 32) : der).toString('base64');
}

export function dkimAlgorithmOf(key: KeyObject): DkimAlgorithm | undefined {
  if (key.asymmetricKeyType === 'rsa') return 'rsa-sha256';
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519-sha256';
  return undefined;
}

function txt(purpose: DnsRecord['purpose'], name: string, value: string): DnsRecord {
  return { purpose, type: 'TXT', name, value, strings: splitTxt(value) };
}

export interface DnsRecordsContext {
  readonly dkim?: { readonly selector: string; readonly publicKey: KeyObject };
  /** With rotation: the next key waiting for DNS and the previous one in its grace period; DKIM records then carry a state. */
  readonly rotation?: {
    readonly pending?: { readonly selector: string; readonly publicKey: KeyObject };
    readonly retiring?: { readonly selector: string; readonly publicKey: KeyObject };
  };
  /** The relay's hostname: its A/AAAA records are the addresses SPF must allow. */
  readonly relayHostname?: string;
}

/** The records a SendingDomain's owner should publish: DKIM key, SPF and DMARC suggestions. Pure. */
export function buildDnsRecords(sd: SendingDomain, ctx: DnsRecordsContext): DnsRecord[] {
  const { domain, dns } = sd.spec;
  const records: DnsRecord[] = [];
  const dkim = (key: { readonly selector: string; readonly publicKey: KeyObject }, state?: DnsRecord['state']) => {
    const k = key.publicKey.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'rsa';
    records.push({ ...txt('dkim', `${key.selector}._domainkey.${domain}`, `v=DKIM1; k=${k}; p=${dkimPublicKeyData(key.publicKey)}`), ...(state ? { state } : {}) });
  };
  if (ctx.dkim) dkim(ctx.dkim, ctx.rotation ? 'Active' : undefined);
  if (ctx.rotation?.pending) dkim(ctx.rotation.pending, 'Pending');
  if (ctx.rotation?.retiring) dkim(ctx.rotation.retiring, 'Retiring');
  const mechanisms = [...(ctx.relayHostname ? [`a:${ctx.relayHostname}`] : []), ...dns.spfInclude];
  records.push(txt('spf', domain, ['v=spf1', ...mechanisms, '~all'].join(' ')));
  const dmarc = [`v=DMARC1`, `p=${dns.dmarcPolicy}`, ...(dns.dmarcReportAddress ? [`rua=mailto:${dns.dmarcReportAddress}`] : []), 'adkim=r', 'aspf=r'];
  records.push(txt('dmarc', `_dmarc.${domain}`, dmarc.join('; ')));
  return records;
}
