/**
 * The `_mta-sts.<domain>` TXT record (RFC 8461 section 3.1): `v=STSv1; id=<1-32 alphanumerics>;`
 * plus extension fields, which are ignored. Records not starting with `v=STSv1` are not ours and
 * are discarded; anything but exactly one remaining, valid record means no policy is published.
 */

export type StsRecord = { readonly kind: 'record'; readonly id: string } | { readonly kind: 'none' } | { readonly kind: 'invalid' };

/** DNS bounds a TXT record near 64 KiB; a real one is a few dozen bytes. */
const MAX_RECORD = 4096;
const ID = /^[A-Za-z0-9]{1,32}$/;
const EXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const EXT_VALUE = /^[\x21-\x3a\x3c\x3e-\x7e]+$/;

/** `records` as node:dns `resolveTxt` returns them: each record a list of character-strings. */
export function parseStsRecord(records: readonly (readonly string[])[]): StsRecord {
  const ours = records.map((strings) => strings.join('')).filter((text) => /^v=STSv1[ \t]*(?:;|$)/.test(text));
  if (ours.length === 0) return { kind: 'none' };
  if (ours.length > 1) return { kind: 'invalid' };
  const text = ours[0]!;
  if (text.length > MAX_RECORD) return { kind: 'invalid' };
  // fields are separated by ";" with optional spaces or tabs around it, and a final ";" may end the record
  const fields = text.split(';').map((f) => f.trim());
  if (fields.at(-1) === '') fields.pop();
  if (fields[0] !== 'v=STSv1' || fields.length < 2) return { kind: 'invalid' };
  let id: string | undefined;
  for (const field of fields.slice(1)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return { kind: 'invalid' };
    const name = field.slice(0, eq);
    const value = field.slice(eq + 1);
    if (name === 'id') {
      if (id !== undefined || !ID.test(value)) return { kind: 'invalid' };
      id = value;
    } else if (!EXT_NAME.test(name) || !EXT_VALUE.test(value)) {
      return { kind: 'invalid' };
    }
  }
  return id === undefined ? { kind: 'invalid' } : { kind: 'record', id };
}
