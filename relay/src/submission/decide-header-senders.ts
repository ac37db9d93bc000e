import addressparser from 'nodemailer/lib/addressparser';
import { domainOf, matchDomain } from '../mail-address.ts';
import type { Submitter } from './envelope.ts';
import type { Refusal } from './outcome.ts';
import { inScope, senderScope } from './sender-scope.ts';

/** Longer From:/Sender: values are refused before they reach the parser; real ones are far shorter. */
export const MAX_ADDRESS_FIELD = 4096;

export interface HeaderSenders {
  /** Every From: field value, unfolded. */
  readonly from: readonly string[];
  /** Every Sender: field value, unfolded. */
  readonly sender: readonly string[];
  /** Every Resent-From: and Resent-Sender: value (any number: one block per resending). */
  readonly resent: ReadonlyArray<{ readonly name: 'resent-from' | 'resent-sender'; readonly value: string }>;
}

export type HeaderSendersVerdict =
  | {
      readonly ok: true;
      /** Domain of the first From: address, lower case. */
      readonly headerFromDomain: string | undefined;
      /** The configured domain whose DKIM key may sign the message: one its submitter may use. */
      readonly signingDomain: string | undefined;
    }
  | { readonly ok: false; readonly refusal: Refusal };

/**
 * May this submitter put these From: and Sender: fields on a message? Every address in them
 * must be in the submitter's scope (sender-scope.ts), so nobody gets mail signed, or aligned
 * under DMARC, as another tenant's domain; so must those of every Resent-From: and
 * Resent-Sender:, which readers may show as the author. Exactly one From: field (RFC 5322 3.6) with at
 * least one address, at most one Sender:. The message is signed for the configured domain of
 * its first From: address, and only when the submitter may use that configured domain itself:
 * a user allowed `sub.example.com` does not get `d=example.com`.
 */
export function decideHeaderSenders(headers: HeaderSenders, submitter: Submitter, configured: readonly string[]): HeaderSendersVerdict {
  const scope = senderScope(submitter, configured);
  if (scope === undefined) {
    // no sending domains and no allowance: no policy (and no DKIM key) to apply
    const first = headers.from.length > 0 ? parseAddresses(headers.from[0]!) : undefined;
    return { ok: true, headerFromDomain: Array.isArray(first) ? domainOf(first[0]!) : undefined, signingDomain: undefined };
  }
  if (headers.from.length === 0) return invalid('Message has no From: header');
  if (headers.from.length > 1) return invalid(`Message has ${headers.from.length} From: headers; exactly one is allowed`);
  if (headers.sender.length > 1) return invalid(`Message has ${headers.sender.length} Sender: headers; at most one is allowed`);
  const from = parseAddresses(headers.from[0]!);
  if (!Array.isArray(from)) return invalid(`From: header ${from}`);
  const sender = headers.sender.length === 1 ? parseAddresses(headers.sender[0]!) : [];
  if (!Array.isArray(sender)) return invalid(`Sender: header ${sender}`);
  const fields: Array<readonly [string, readonly string[]]> = [['From', from], ['Sender', sender]];
  for (const { name, value } of headers.resent) {
    const field = name === 'resent-from' ? 'Resent-From' : 'Resent-Sender';
    const addresses = parseAddresses(value);
    if (!Array.isArray(addresses)) return invalid(`${field}: header ${addresses}`);
    fields.push([field, addresses]);
  }
  for (const [field, addresses] of fields) {
    for (const address of addresses) {
      const domain = domainOf(address);
      if (!inScope(domain, scope)) {
        return { ok: false, refusal: { reason: 'header_sender_domain', text: `${field}: domain ${domain} is not one this sender may use` } };
      }
    }
  }
  const headerFromDomain = domainOf(from[0]!);
  const keyDomain = matchDomain(headerFromDomain, configured);
  return { ok: true, headerFromDomain, signingDomain: keyDomain && inScope(keyDomain, scope) ? keyDomain : undefined };
}

/** The addresses of an address-list field, or why it cannot be read. */
function parseAddresses(value: string): string[] | string {
  if (value.length > MAX_ADDRESS_FIELD) return `is longer than ${MAX_ADDRESS_FIELD} characters`;
  const addresses: string[] = [];
  // `<a@x.test> <b@y.test>` parses as b@y.test's name: a reader of the header may see either
  for (const bracketed of value.matchAll(/<([^<>]*@[^<>]*)>/g)) addresses.push(bracketed[1]!.trim());
  for (const entry of addressparser(value, { flatten: true })) {
    const address = 'address' in entry ? entry.address : '';
    const at = address.lastIndexOf('@');
    if (at <= 0 || at === address.length - 1 || /[\s<>,;]/.test(address)) return 'cannot be parsed as a list of addresses';
    addresses.push(address);
  }
  return addresses.length > 0 ? addresses : 'names no address';
}

function invalid(text: string): HeaderSendersVerdict {
  return { ok: false, refusal: { reason: 'invalid_header_from', text } };
}
