/**
 * A message's category, tags and metadata: the API's `category`, `tags` and `metadata` fields,
 * or the X-Mail-Relay-Category, X-Mail-Relay-Tags and X-Mail-Relay-Metadata header fields.
 * Both ingresses end in decideLabels, so a value is accepted or refused alike whichever way it
 * came. Pure and linear in its input; every bound is checked before anything is kept.
 */

import { decodeWords } from 'postal-mime';
import { CATEGORY_NAME } from '../config/schema.ts';

/** Tags use the alphabet of category names, one character longer. */
const TAG = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** C0 controls and DEL: a metadata key or value is text, never line breaks or NULs. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

export const LABEL_LIMITS = {
  maxTags: 10,
  maxTagLength: 64,
  maxMetadataKeys: 10,
  maxKeyLength: 64,
  maxValueLength: 256,
  /** The metadata as compact JSON, in UTF-8 bytes. */
  maxMetadataBytes: 2048,
  /** Any X-Mail-Relay-* field, unfolded, before it is decoded and parsed. */
  maxHeaderBytes: 4096,
} as const;

/** The header fields, lower case, which the relay removes before signing and delivery. */
export const LABEL_HEADERS = ['x-mail-relay-category', 'x-mail-relay-tags', 'x-mail-relay-metadata'] as const;
export type LabelHeader = (typeof LABEL_HEADERS)[number];

export interface MessageLabels {
  readonly category?: string;
  readonly tags?: readonly string[];
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The API's fields as they came in the JSON body (not yet checked). */
export interface LabelInput {
  readonly category?: unknown;
  readonly tags?: unknown;
  readonly metadata?: unknown;
}

export interface LabelProblem {
  /** The API field (`category`, `tags`, `metadata`) or the header field it came from. */
  readonly field: string;
  readonly message: string;
}

export type LabelsVerdict = { readonly ok: true; readonly labels: MessageLabels } | { readonly ok: false; readonly problems: readonly LabelProblem[] };

const FIELD_OF_HEADER: Readonly<Record<LabelHeader, string>> = {
  'x-mail-relay-category': 'X-Mail-Relay-Category',
  'x-mail-relay-tags': 'X-Mail-Relay-Tags',
  'x-mail-relay-metadata': 'X-Mail-Relay-Metadata',
};

/** Checks the API's fields. `names` says what to call each field in a problem. */
export function decideLabels(input: LabelInput, names: { category: string; tags: string; metadata: string } = { category: 'category', tags: 'tags', metadata: 'metadata' }): LabelsVerdict {
  const problems: LabelProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  let category: string | undefined;
  if (input.category !== undefined) {
    if (typeof input.category !== 'string' || !CATEGORY_NAME.test(input.category)) {
      add(names.category, 'must be a category name: 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit');
    } else category = input.category;
  }
  const tags = input.tags === undefined ? undefined : checkTags(input.tags, names.tags, add);
  const metadata = input.metadata === undefined ? undefined : checkMetadata(input.metadata, names.metadata, add);
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    labels: {
      ...(category !== undefined ? { category } : {}),
      ...(tags && tags.length > 0 ? { tags } : {}),
      ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}),
    },
  };
}

function checkTags(value: unknown, field: string, add: (field: string, message: string) => void): string[] | undefined {
  if (!Array.isArray(value)) {
    add(field, 'must be a list of tags');
    return undefined;
  }
  if (value.length > LABEL_LIMITS.maxTags) {
    add(field, `must have at most ${LABEL_LIMITS.maxTags} tags`);
    return undefined;
  }
  const out = new Set<string>();
  for (const tag of value) {
    if (typeof tag !== 'string' || !TAG.test(tag)) {
      add(field, `each tag must be 1 to ${LABEL_LIMITS.maxTagLength} characters of a-z, 0-9, _ and -, starting with a letter or digit`);
      return undefined;
    }
    out.add(tag);
  }
  return [...out];
}

function checkMetadata(value: unknown, field: string, add: (field: string, message: string) => void): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    add(field, 'must be an object of string values');
    return undefined;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > LABEL_LIMITS.maxMetadataKeys) {
    add(field, `must have at most ${LABEL_LIMITS.maxMetadataKeys} keys`);
    return undefined;
  }
  for (const [key, v] of entries) {
    if (key.length === 0 || key.length > LABEL_LIMITS.maxKeyLength || CONTROL.test(key)) {
      add(field, `keys must be 1 to ${LABEL_LIMITS.maxKeyLength} characters without control characters`);
      return undefined;
    }
    if (typeof v !== 'string' || v.length > LABEL_LIMITS.maxValueLength || CONTROL.test(v)) {
      add(`${field}.${key}`, `must be a string of at most ${LABEL_LIMITS.maxValueLength} characters without control characters`);
      return undefined;
    }
  }
  // defined as own properties, so a key such as __proto__ is data like any other
  const metadata = Object.fromEntries(entries) as Record<string, string>;
  if (Buffer.byteLength(JSON.stringify(metadata)) > LABEL_LIMITS.maxMetadataBytes) {
    add(field, `must be at most ${LABEL_LIMITS.maxMetadataBytes} bytes as JSON`);
    return undefined;
  }
  return metadata;
}

/**
 * The labels carried by header fields: every occurrence of each, unfolded, one character per
 * byte (as the header inspection reads them). Each may appear once; tags are comma-separated,
 * metadata a JSON object. Field bodies are UTF-8 (RFC 6532) or ASCII with encoded words
 * (RFC 2047, which nodemailer writes for long values), decoded with postal-mime.
 */
export function labelsFromHeaders(fields: ReadonlyMap<LabelHeader, readonly string[]>): LabelsVerdict {
  const problems: LabelProblem[] = [];
  const one = (name: LabelHeader): string | undefined => {
    const values = fields.get(name) ?? [];
    if (values.length > 1) problems.push({ field: FIELD_OF_HEADER[name], message: 'must appear at most once' });
    const value = values[0];
    if (value === undefined) return undefined;
    if (value.length > LABEL_LIMITS.maxHeaderBytes) {
      problems.push({ field: FIELD_OF_HEADER[name], message: `must be at most ${LABEL_LIMITS.maxHeaderBytes} bytes` });
      return undefined;
    }
    return decodeWords(Buffer.from(value, 'latin1').toString('utf8'));
  };
  const category = one('x-mail-relay-category');
  const tagsText = one('x-mail-relay-tags');
  const metadataText = one('x-mail-relay-metadata');
  if (problems.length > 0) return { ok: false, problems };
  let metadata: unknown;
  if (metadataText !== undefined) {
    try {
      metadata = JSON.parse(metadataText);
    } catch {
      return { ok: false, problems: [{ field: FIELD_OF_HEADER['x-mail-relay-metadata'], message: 'must be a JSON object of string values' }] };
    }
  }
  return decideLabels(
    {
      ...(category !== undefined ? { category: category.trim() } : {}),
      // a split is linear; empty items (`a,,b`, a trailing comma) mean nothing
      ...(tagsText !== undefined ? { tags: tagsText.split(',').map((t) => t.trim()).filter((t) => t !== '') } : {}),
      ...(metadataText !== undefined ? { metadata } : {}),
    },
    { category: FIELD_OF_HEADER['x-mail-relay-category'], tags: FIELD_OF_HEADER['x-mail-relay-tags'], metadata: FIELD_OF_HEADER['x-mail-relay-metadata'] },
  );
}
