import addressparser from 'nodemailer/lib/addressparser';
import { HttpError } from '../errors.ts';

/**
 * Readers for the fields of JSON request bodies that collect every problem with its field
 * path (`to[1]`, `attachments[0].content`) so that one 400 names all of them.
 */

export interface Problem {
  readonly field: string;
  readonly message: string;
}

export interface Mailbox {
  readonly name?: string;
  readonly address: string;
}

/** Problems listed in one answer; the rest are counted. A list of a million bad recipients answered 128 MiB. */
export const MAX_PROBLEMS = 20;
/** Field paths are cut to this length: a field name is request data and can be megabytes long. */
const MAX_FIELD_PATH = 100;

export class FieldProblems {
  readonly list: Problem[] = [];
  /** Every problem found, listed or not. */
  count = 0;

  add(field: string, message: string): void {
    this.count++;
    if (this.list.length >= MAX_PROBLEMS) return;
    this.list.push({ field: field.length > MAX_FIELD_PATH ? `${field.slice(0, MAX_FIELD_PATH)}...` : field, message });
  }

  /** Throws the 400 naming the first MAX_PROBLEMS problems, if there is any. */
  check(): void {
    if (this.count === 0) return;
    const listed = this.count > this.list.length ? ` (the first ${this.list.length} listed)` : '';
    throw new HttpError(400, 'invalid_request', `the request has ${this.count} invalid field(s)${listed}`, 'invalid_request', {
      problems: this.list,
    });
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function rejectUnknown(body: Record<string, unknown>, known: readonly string[], problems: FieldProblems, prefix = ''): void {
  for (const key of Object.keys(body)) if (!known.includes(key)) problems.add(prefix ? `${prefix}.${key}` : key, 'is not a known field');
}

/** CR or LF would end a header line early (header injection); NUL and other controls have no place in one either. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const HEADER_UNSAFE = /[\x00-\x08\x0a-\x1f\x7f]/;
/** user@domain.tld or user@[literal], printable ASCII only. */
const ADDRESS = /^[\x21-\x3f\x41-\x7e]+@(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|\[[\x21-\x5a\x5e-\x7e]+\])$/;

export function headerText(value: unknown, field: string, problems: FieldProblems, opts: { max?: number } = {}): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    problems.add(field, 'must be a string');
    return undefined;
  }
  if (HEADER_UNSAFE.test(value)) {
    problems.add(field, 'must not contain CR, LF or other control characters');
    return undefined;
  }
  if (value.length > (opts.max ?? 998)) {
    problems.add(field, `must be at most ${opts.max ?? 998} characters`);
    return undefined;
  }
  return value;
}

export function bareAddress(value: unknown, field: string, problems: FieldProblems): string | undefined {
  if (typeof value !== 'string' || value === '') {
    problems.add(field, 'must be an address such as user@example.com');
    return undefined;
  }
  if (HEADER_UNSAFE.test(value)) {
    problems.add(field, 'must not contain CR, LF or other control characters');
    return undefined;
  }
  if (value.length > 254 || !ADDRESS.test(value)) {
    problems.add(field, 'must be an address such as user@example.com');
    return undefined;
  }
  return value;
}

/** `"Name <user@example.com>"`, `"user@example.com"` or `{ name, address }`. */
export function mailbox(value: unknown, field: string, problems: FieldProblems): Mailbox | undefined {
  if (isRecord(value)) {
    const before = problems.list.length;
    rejectUnknown(value, ['name', 'address'], problems, field);
    const name = headerText(value.name, `${field}.name`, problems, { max: 256 });
    const address = bareAddress(value.address, `${field}.address`, problems);
    if (problems.list.length > before || address === undefined) return undefined;
    return name ? { name, address } : { address };
  }
  if (typeof value !== 'string' || value.trim() === '') {
    problems.add(field, 'must be an address string or { name, address }');
    return undefined;
  }
  if (HEADER_UNSAFE.test(value)) {
    problems.add(field, 'must not contain CR, LF or other control characters');
    return undefined;
  }
  const parsed = addressparser(value, { flatten: true });
  const first = parsed[0];
  if (parsed.length !== 1 || !first || !('address' in first)) {
    problems.add(field, 'must be exactly one address');
    return undefined;
  }
  const address = bareAddress(first.address, field, problems);
  if (address === undefined) return undefined;
  return first.name ? { name: first.name, address } : { address };
}

/** One mailbox or a list of them. */
export function mailboxList(value: unknown, field: string, problems: FieldProblems): Mailbox[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  const out: Mailbox[] = [];
  items.forEach((item, i) => {
    const m = mailbox(item, Array.isArray(value) ? `${field}[${i}]` : field, problems);
    if (m) out.push(m);
  });
  return out;
}

/** A list of bare envelope addresses. */
export function addressList(value: unknown, field: string, problems: FieldProblems): string[] {
  if (!Array.isArray(value)) {
    problems.add(field, value === undefined ? 'is required' : 'must be a list of addresses');
    return [];
  }
  if (value.length === 0) problems.add(field, 'must name at least one recipient');
  const out: string[] = [];
  value.forEach((item, i) => {
    const a = bareAddress(item, `${field}[${i}]`, problems);
    if (a) out.push(a);
  });
  return out;
}

/**
 * Standard base64 (RFC 4648 section 4) with its padding, CR and LF allowed anywhere (MIME line
 * breaks). One pass over the characters: a regex with a repeated group over the whole value
 * overflowed V8's backtracking stack from about 4 MiB and answered 500.
 */
export function isBase64(value: string): boolean {
  let digits = 0;
  let padding = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) continue;
    if (c === 0x3d) {
      padding++;
      continue;
    }
    const digit = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
    // a digit after padding, or anything else, is not base64
    if (!digit || padding > 0) return false;
    digits++;
  }
  return padding === 0 ? digits % 4 === 0 : padding <= 2 && digits % 4 === 4 - padding;
}

export function base64(value: unknown, field: string, problems: FieldProblems, opts: { nonEmpty?: boolean } = {}): Buffer | undefined {
  if (typeof value !== 'string') {
    problems.add(field, 'must be a base64 string');
    return undefined;
  }
  if (!isBase64(value) || (opts.nonEmpty && !/[^\r\n]/.test(value))) {
    problems.add(field, opts.nonEmpty ? 'must be valid, non-empty base64' : 'must be valid base64');
    return undefined;
  }
  // Node skips the line breaks itself
  return Buffer.from(value, 'base64');
}
