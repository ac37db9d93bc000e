import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * VERP return paths (one envelope sender per recipient) that let a bounce or complaint arriving
 * days later be attributed without keeping the message:
 *
 *   b-<queue id>-<recipient index>-<domain tag>-<recipient tag>@<verpDomain>
 *
 * The domain tag is an HMAC over queue id, index and sending domain: it proves the address was
 * ours and says which domain sent it. The recipient tag is an HMAC over queue id, index and
 * the recipient: it confirms the recipient a report names, so a report cannot get an arbitrary
 * address suppressed. Everything is lower case because some MTAs fold local parts.
 */

const TAG_LENGTH = 12;
const LOCAL = /^b-([0-9a-z]{16})-(\d{1,5})-([0-9a-f]{12})-([0-9a-f]{12})$/;

export interface VerpParts {
  readonly queueId: string;
  readonly index: number;
  readonly domainTag: string;
  readonly recipientTag: string;
}

function tag(key: Buffer, ...fields: string[]): string {
  return createHmac('sha256', key).update(fields.join('\n')).digest('hex').slice(0, TAG_LENGTH);
}

function same(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

export function buildVerpAddress(key: Buffer, verpDomain: string, queueId: string, index: number, sendingDomain: string, recipient: string): string {
  const id = queueId.toLowerCase();
  const domainTag = tag(key, 'domain', id, String(index), sendingDomain.toLowerCase());
  const recipientTag = tag(key, 'recipient', id, String(index), recipient.toLowerCase());
  return `b-${id}-${index}-${domainTag}-${recipientTag}@${verpDomain}`;
}

/** The parts of a VERP address at `verpDomain`, or undefined when it does not have the shape. */
export function parseVerpAddress(address: string, verpDomain: string): VerpParts | undefined {
  const lower = address.toLowerCase();
  const suffix = `@${verpDomain}`;
  if (!lower.endsWith(suffix)) return undefined;
  const match = LOCAL.exec(lower.slice(0, -suffix.length));
  if (!match) return undefined;
  return { queueId: match[1]!, index: Number(match[2]), domainTag: match[3]!, recipientTag: match[4]! };
}

/** Which of the candidate sending domains the address was made for; undefined when none (forged). */
export function verifyVerpDomain(key: Buffer, parts: VerpParts, domains: Iterable<string>): string | undefined {
  for (const domain of domains) {
    if (same(tag(key, 'domain', parts.queueId, String(parts.index), domain.toLowerCase()), parts.domainTag)) return domain;
  }
  return undefined;
}

/** The candidate that is the recipient the address was made for, if any. */
export function verifyVerpRecipient(key: Buffer, parts: VerpParts, candidates: Iterable<string>): string | undefined {
  for (const candidate of candidates) {
    if (same(tag(key, 'recipient', parts.queueId, String(parts.index), candidate.toLowerCase()), parts.recipientTag)) return candidate.toLowerCase();
  }
  return undefined;
}
