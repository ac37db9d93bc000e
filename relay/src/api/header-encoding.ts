import { quoteString } from 'nodemailer/lib/mime-funcs';
import type { Address } from './message-fields.ts';
import { referenceNode } from './reference-node.ts';

/**
 * MimeNode#encodeHeaderValue for the root headers the direct writer sets, with shortcuts for the
 * common values it leaves as they are; everything else goes to encodeHeaderValue itself. The
 * shortcuts skip its key normalisation, address parsing and domain mapping, which are most of
 * the cost of a small message's headers.
 */

/** Text encodeWords leaves as it is: printable ASCII or HT, no quote (checked for '=?' apart). */
const PLAIN_TEXT = /^[\t\x20\x21\x23-\x7e]*$/;
/** A msg-id that already has its angle brackets and nothing encodeHeaderValue would remove. */
const PLAIN_MSG_ID = /^<[\t\x20-\x7e]*>$/;
/**
 * An addr-spec that _normalizeAddress returns unchanged and _convertAddresses writes without
 * angle brackets: a dot-atom at a lowercase host name, which domainToASCII leaves as it is. A
 * numeric last label it reads as IPv4 ('1.2.3' becomes '1.2.0.3') and an xn-- label it decodes
 * and checks, so those, and any '--', take the long way.
 */
const PLAIN_ADDRESS = /^[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*@(?!.*--)(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z](?:[a-z0-9-]*[a-z0-9])?$/;
/** _encodeAddressName: a name of word characters and spaces goes out bare, other printable ASCII quoted. */
const BARE_NAME = /^[\w ]*$/;
const QUOTABLE_NAME = /^[\x20-\x7e]*$/;

export function encodeAddresses(key: string, list: readonly Address[]): string {
  const values: string[] = [];
  for (const { name, address } of list) {
    if (!PLAIN_ADDRESS.test(address)) return referenceNode.encodeHeaderValue(key, list.map((a) => ({ ...a })));
    if (!name) values.push(address);
    else if (BARE_NAME.test(name)) values.push(`${name} <${address}>`);
    else if (QUOTABLE_NAME.test(name)) values.push(`${quoteString(name)} <${address}>`);
    else return referenceNode.encodeHeaderValue(key, list.map((a) => ({ ...a })));
  }
  return values.join(', ');
}

export function encodeSubject(value: string): string {
  return PLAIN_TEXT.test(value) && !value.includes('=?') ? value : referenceNode.encodeHeaderValue('Subject', value);
}

export function encodeMessageId(value: string): string {
  return PLAIN_MSG_ID.test(value) ? value : referenceNode.encodeHeaderValue('Message-ID', value);
}

export function encodeDate(value: Date | string): string {
  return typeof value === 'string' ? referenceNode.encodeHeaderValue('Date', value) : value.toUTCString().replace(/GMT/, '+0000');
}
