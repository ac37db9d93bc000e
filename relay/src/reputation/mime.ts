/**
 * Just enough MIME (RFC 2045/2046) to read delivery and feedback reports: header fields,
 * Content-Type parameters, multipart bodies and transfer decoding. Text is handled as latin1 so
 * any byte survives; reports are ASCII in practice.
 */

export interface MimePart {
  /** Lower-case field name → unfolded values, in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  readonly body: string;
}

export interface ContentType {
  /** `type/subtype`, lower case; `text/plain` when absent (RFC 2045 5.2). */
  readonly type: string;
  /** Lower-case parameter names. */
  readonly params: ReadonlyMap<string, string>;
}

/** Header fields of a block of `Name: value` lines, folded lines joined. */
function parseHeaderBlock(text: string): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  const unfolded = text.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    const values = headers.get(name) ?? [];
    values.push(line.slice(colon + 1).trim());
    headers.set(name, values);
  }
  return headers;
}

/** Splits an entity into its header block and body. */
export function parseEntity(text: string): MimePart {
  const match = /\r?\n\r?\n/.exec(text);
  if (text.startsWith('\r\n') || text.startsWith('\n')) return { headers: new Map(), body: text.replace(/^\r?\n/, '') };
  if (!match) return { headers: parseHeaderBlock(text), body: '' };
  return { headers: parseHeaderBlock(text.slice(0, match.index)), body: text.slice(match.index + match[0].length) };
}

export function header(part: MimePart, name: string): string | undefined {
  return part.headers.get(name)?.[0];
}

export function parseContentType(value: string | undefined): ContentType {
  const params = new Map<string, string>();
  if (!value) return { type: 'text/plain', params };
  const [type = '', ...rest] = splitOutsideQuotes(value, ';');
  for (const param of rest) {
    const eq = param.indexOf('=');
    if (eq <= 0) continue;
    let v = param.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params.set(param.slice(0, eq).trim().toLowerCase(), v);
  }
  return { type: type.trim().toLowerCase() || 'text/plain', params };
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted) {
      current += c + (text[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      out.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  out.push(current);
  return out;
}

/** The body parts of a multipart entity (preamble and epilogue dropped). */
function splitMultipart(body: string, boundary: string): MimePart[] {
  const delimiter = `--${boundary}`;
  const parts: MimePart[] = [];
  const lines = body.split(/\r?\n/);
  let current: string[] | undefined;
  for (const line of lines) {
    const trimmed = line.trimEnd();
    if (trimmed === delimiter || trimmed === `${delimiter}--`) {
      if (current) parts.push(parseEntity(current.join('\r\n')));
      current = trimmed === delimiter ? [] : undefined;
      if (!current) break;
      continue;
    }
    current?.push(line);
  }
  return parts;
}

/** The body with its Content-Transfer-Encoding undone (7bit, 8bit and binary are left as they are). */
export function decodedBody(part: MimePart): string {
  const encoding = (header(part, 'content-transfer-encoding') ?? '').toLowerCase();
  if (encoding === 'base64') return Buffer.from(part.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  if (encoding === 'quoted-printable') {
    return part.body.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  return part.body;
}

/** Every leaf and container part of a message, depth first, not descending into attached messages. */
export function walkParts(root: MimePart, depth = 0): MimePart[] {
  const type = parseContentType(header(root, 'content-type'));
  const boundary = type.params.get('boundary');
  if (!type.type.startsWith('multipart/') || !boundary || depth > 8) return [root];
  return [root, ...splitMultipart(root.body, boundary).flatMap((p) => walkParts(p, depth + 1))];
}

/**
 * The blocks of a report body (message/delivery-status, message/feedback-report): groups of
 * header fields separated by blank lines.
 */
export function parseFieldBlocks(text: string): Array<Map<string, string[]>> {
  return text
    .split(/\r?\n(?:[ \t]*\r?\n)+/)
    .map((block) => parseHeaderBlock(block))
    .filter((fields) => fields.size > 0);
}

/** `rfc822; user@example.net` or `<user@example.net>` → `user@example.net`, lower case. */
export function addressOfField(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const afterType = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  const text = afterType.trim().replace(/^<|>$/g, '').trim();
  // RFC 5321 4.5.3.1.3: a path is at most 256 octets; anchored, so hostile input cannot backtrack
  if (text.length > 256) return undefined;
  return /^[^\s<>;"@]+@[^\s<>;"@]+$/.test(text) ? text.toLowerCase() : undefined;
}
