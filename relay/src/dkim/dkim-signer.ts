import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import type { Hash, KeyObject } from 'node:crypto';

/**
 * DKIM signing (RFC 6376) with relaxed/relaxed canonicalization, for `rsa-sha256` and
 * `ed25519-sha256` (RFC 8463). Everything here is pure: the signing time comes in as an argument
 * and keys come in as parsed KeyObjects, so one signature is reproducible from its inputs.
 *
 * Header text is handled as latin1 strings: canonicalization is defined on octets, and latin1
 * maps every octet to one char and back, so 8-bit (SMTPUTF8) header bytes survive untouched.
 */

import type { DkimAlgorithm } from '../config/schema.ts';
import { headerFieldName } from '../header-field-name.ts';

export type { DkimAlgorithm };

export interface DkimKey {
  readonly domain: string;
  readonly selector: string;
  readonly algorithm: DkimAlgorithm;
  readonly privateKey: KeyObject;
}

export interface SignOptions {
  /** Signing time, unix seconds (the `t=` tag). */
  readonly timestamp: number;
  /** Header fields to sign when present; defaults to DEFAULT_SIGNED_HEADERS. `from` is always signed. */
  readonly headerFields?: readonly string[];
  /**
   * The relaxed body hash, when the caller computed it while streaming the body (large
   * messages); `message` then needs to hold only the header block.
   */
  readonly bodyHash?: string;
}

/**
 * RFC 6376 5.4.1's recommendation plus the headers receivers act on (RFC 8058 one-click
 * unsubscribe needs List-Unsubscribe-Post signed). Trace and transport headers are left out:
 * relays downstream legitimately add or rewrite them.
 */
export const DEFAULT_SIGNED_HEADERS: readonly string[] = [
  'from',
  'sender',
  'reply-to',
  'subject',
  'date',
  'message-id',
  'to',
  'cc',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
  'content-id',
  'content-description',
  'in-reply-to',
  'references',
  'list-id',
  'list-help',
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-subscribe',
  'list-post',
  'list-owner',
  'list-archive',
  'feedback-id',
  'resent-date',
  'resent-from',
  'resent-sender',
  'resent-to',
  'resent-cc',
  'resent-message-id',
];

/**
 * Listed once more than they occur, so a verifier fails the signature if another instance is
 * added after signing (RFC 6376 8.15); a second From: is the classic way to spoof a signed mail.
 */
const OVER_SIGNED = new Set(['from']);

/** RFC 8301: verifiers reject shorter RSA keys, so signing with one only produces failures. */
const MIN_RSA_BITS = 1024;
const MAX_LINE = 78;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const CRLF = Buffer.from('\r\n');
const ONE_SP = Buffer.from(' ');
const DOUBLE_SPACE = Buffer.from('  ');
const CRLF_BLOCK_LINES = 256;
const CRLF_BLOCK = Buffer.from('\r\n'.repeat(CRLF_BLOCK_LINES));

// ---------------------------------------------------------------------------------------------
// Keys and DNS records

/** Parses a PEM private key (PKCS#1 or PKCS#8 RSA, PKCS#8 Ed25519) for DKIM signing. */
export function parseDkimPrivateKey(pem: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    // the underlying message never includes key material, only OpenSSL's reason
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`DKIM private key is not a readable unencrypted PEM private key (${reason})`, { cause: err });
  }
  dkimAlgorithmOf(key);
  return key;
}

/** The DKIM `a=` value for a key; throws for key types DKIM does not define. */
export function dkimAlgorithmOf(key: KeyObject): DkimAlgorithm {
  const type = key.asymmetricKeyType;
  if (type === 'ed25519') return 'ed25519-sha256';
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`DKIM RSA key has ${bits} bits; at least ${MIN_RSA_BITS} are required (2048 recommended)`);
    return 'rsa-sha256';
  }
  throw new Error(`DKIM key type ${type ?? key.type} is not supported; use RSA or Ed25519`);
}

/**
 * The TXT record value to publish at `<selector>._domainkey.<domain>`. RSA keys are published
 * as base64 SubjectPublicKeyInfo DER (RFC 6376 3.6.1); Ed25519 keys as the bare 32-byte key
 * (RFC 8463 4.2), not SPKI. The value may exceed 255 octets: publish it as several strings.
 */
export function buildDkimDnsRecord(publicKey: KeyObject | string): string {
  // createPublicKey derives the public half when handed a private key or private PEM
  const key = typeof publicKey === 'string' || publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
  const der = key.export({ type: 'spki', format: 'der' });
  const algorithm = dkimAlgorithmOf(key);
  if (algorithm === 'ed25519-sha256') {
    // Ed25519 SPKI is a fixed 12-byte prefix followed by the raw key
    return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`;
  }
  return `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// Canonicalization

/**
 * Relaxed body canonicalization (RFC 6376 3.4.4) fed straight into the hash. Lines already in
 * canonical form (the vast majority: no tab, no double space, no trailing space, CRLF ending)
 * are hashed in place as long runs, so a 25 MiB body is neither copied nor turned into a string;
 * only lines that change are rewritten, through a small staging buffer so that a body made of
 * tiny dirty lines does not cost one hash call per fragment. Bare LF ends a line like CRLF, as
 * verifiers treat it; a CR not followed by LF is line content. Chunks may split anywhere.
 */
export class RelaxedBodyHash {
  private readonly hash: Hash;
  private readonly stage = Buffer.allocUnsafe(16 * 1024);
  private staged = 0;
  /** Empty lines seen but not yet hashed: they only count if more content follows. */
  private emptyLines = 0;
  /** The unfinished last line of earlier chunks (copied: callers may reuse their buffers). */
  private carry: Buffer[] = [];

  constructor(hashAlgorithm = 'sha256') {
    this.hash = createHash(hashAlgorithm);
  }

  update(chunk: Buffer): this {
    let start = 0;
    if (this.carry.length > 0) {
      const lf = chunk.indexOf(LF);
      if (lf === -1) {
        this.carry.push(Buffer.from(chunk));
        return this;
      }
      this.carry.push(chunk.subarray(0, lf + 1));
      const line = Buffer.concat(this.carry);
      this.carry = [];
      this.lines(line, 0, line.length);
      start = lf + 1;
    }
    const end = Math.max(start, chunk.lastIndexOf(LF) + 1);
    if (end > start) this.lines(chunk, start, end);
    if (end < chunk.length) this.carry.push(Buffer.from(chunk.subarray(end)));
    return this;
  }

  /** Base64 digest of the canonical body; an empty body hashes the empty string. */
  digest(): string {
    if (this.carry.length > 0) {
      const last = Buffer.concat(this.carry);
      this.carry = [];
      this.lines(last, 0, last.length);
    }
    this.flushStage();
    return this.hash.digest('base64');
  }

  /**
   * Canonicalizes the lines in buf[from, to). Only the body's last line can lack its LF; it
   * gets a CRLF like any other non-empty line (RFC 6376 3.4.4 b.2).
   */
  private lines(buf: Buffer, from: number, to: number): void {
    // input from runStart on is already canonical and not yet hashed
    let runStart = from;
    // where the run's trailing CRLF-only lines begin: held back in case they end the body
    let emptyStart = -1;
    let emptyCount = 0;
    // next tab / double space at or after the current line; indexOf scans to the buffer's end,
    // so each is searched once per occurrence rather than once per line
    let nextTab = -1;
    let nextDouble = -1;
    let s = from;
    while (s < to) {
      let lf = buf.indexOf(LF, s);
      const hasLf = lf !== -1 && lf < to;
      if (!hasLf) lf = to;
      let ce = lf;
      // a final CR without LF is taken as a truncated line end
      if (ce > s && buf[ce - 1] === CR) ce--;
      const crlfEnded = hasLf && ce === lf - 1;
      const contentEnd = ce;
      while (ce > s && (buf[ce - 1] === SP || buf[ce - 1] === HTAB)) ce--;
      const next = lf + 1;

      if (ce === s) {
        if (crlfEnded && ce === contentEnd) {
          // a bare CRLF stays in the run unless it turns out to be trailing
          if (emptyStart === -1) emptyStart = s;
          emptyCount++;
        } else {
          // whitespace-only or LF-ended: cut the run here and count the line instead
          this.emit(buf, runStart, emptyStart === -1 ? s : emptyStart);
          this.emptyLines += emptyCount + 1;
          emptyStart = -1;
          emptyCount = 0;
          runStart = next;
        }
        s = next;
        continue;
      }
      emptyStart = -1;
      emptyCount = 0;
      if (this.emptyLines > 0) this.flushEmptyLines();

      if (nextTab < s) nextTab = indexOrEnd(buf, HTAB, s);
      if (nextDouble < s) nextDouble = indexOrEnd(buf, DOUBLE_SPACE, s);
      const wspClean = nextTab >= ce && nextDouble >= ce;
      if (wspClean && crlfEnded && ce === contentEnd) {
        s = next;
        continue;
      }
      if (wspClean) {
        this.emit(buf, runStart, ce);
      } else {
        this.emit(buf, runStart, s);
        this.collapseWsp(buf, s, ce);
      }
      this.emit(CRLF, 0, 2);
      runStart = next;
      s = next;
    }
    if (emptyStart === -1) {
      this.emit(buf, runStart, to);
    } else {
      this.emit(buf, runStart, emptyStart);
      this.emptyLines += emptyCount;
    }
  }

  /** Emits buf[s, ce) with every WSP run other than a single SP replaced by one SP. */
  private collapseWsp(buf: Buffer, s: number, ce: number): void {
    let segment = s;
    let i = s;
    while (i < ce) {
      const c = buf[i]!;
      if (c !== SP && c !== HTAB) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < ce && (buf[j] === SP || buf[j] === HTAB)) j++;
      if (c !== SP || j > i + 1) {
        this.emit(buf, segment, i);
        this.emit(ONE_SP, 0, 1);
        segment = j;
      }
      i = j;
    }
    this.emit(buf, segment, ce);
  }

  private flushEmptyLines(): void {
    for (; this.emptyLines > 0; this.emptyLines -= Math.min(this.emptyLines, CRLF_BLOCK_LINES)) {
      this.emit(CRLF_BLOCK, 0, 2 * Math.min(this.emptyLines, CRLF_BLOCK_LINES));
    }
  }

  /** Hashes buf[start, end): large pieces directly, small ones gathered in the stage first. */
  private emit(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    if (n >= 2048) {
      this.flushStage();
      this.hash.update(buf.subarray(start, end));
      return;
    }
    if (this.staged + n > this.stage.length) this.flushStage();
    if (n <= 16) {
      // a native copy call costs more than a few byte moves
      for (let i = start; i < end; i++) this.stage[this.staged++] = buf[i]!;
    } else {
      this.staged += buf.copy(this.stage, this.staged, start, end);
    }
  }

  private flushStage(): void {
    if (this.staged > 0) this.hash.update(this.stage.subarray(0, this.staged));
    this.staged = 0;
  }
}

function indexOrEnd(buf: Buffer, value: number | Buffer, from: number): number {
  const at = buf.indexOf(value, from);
  return at === -1 ? buf.length : at;
}

/** `bh=` for a body (or its parts, in order) under relaxed canonicalization. */
export function relaxedBodyHash(body: Buffer | readonly Buffer[]): string {
  const hasher = new RelaxedBodyHash();
  for (const part of Buffer.isBuffer(body) ? [body] : body) hasher.update(part);
  return hasher.digest();
}

/**
 * Relaxed header canonicalization (RFC 6376 3.4.2) of one field as it appears in the message
 * (name, colon, value with its folding; no final CRLF). The result has no CRLF either.
 * Only SP and HTAB are whitespace here; other octets (0xA0 included) are kept as they are.
 */
export function canonicalizeHeaderRelaxed(field: string): string {
  const colon = field.indexOf(':');
  const name = headerFieldName(field, colon);
  const value = field
    .slice(colon + 1)
    .replace(/\r?\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
  return `${name}:${value}`;
}

// ---------------------------------------------------------------------------------------------
// Message parsing

interface HeaderField {
  /** Lowercased field name. */
  readonly name: string;
  /** The field as written, latin1, folding kept, without the final line break. */
  readonly text: string;
}

/** Splits a message into its header fields and the offset where the body starts. */
function splitMessage(message: Buffer): { fields: HeaderField[]; bodyStart: number } {
  const fields: { name: string; text: string }[] = [];
  let current: { name: string; text: string } | undefined;
  let pos = 0;
  let bodyStart = message.length;
  while (pos < message.length) {
    const nl = message.indexOf(LF, pos);
    const end = nl === -1 ? message.length : nl;
    const lineEnd = end > pos && message[end - 1] === CR ? end - 1 : end;
    const line = message.toString('latin1', pos, lineEnd);
    pos = nl === -1 ? message.length : nl + 1;
    if (line === '') {
      bodyStart = pos;
      break;
    }
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (current) current.text += `\r\n${line}`;
      continue;
    }
    const colon = line.indexOf(':');
    // a line that is neither a field nor a continuation cannot be signed; skip what follows it too
    current = colon > 0 ? { name: headerFieldName(line, colon), text: line } : undefined;
    if (current) fields.push(current);
  }
  return { fields, bodyStart };
}

/**
 * The `h=` list and the fields it selects, in order. Multiple instances of a name are listed
 * once each and consumed from the bottom up, as a verifier will (RFC 6376 5.4.2); over-signed
 * names get one extra entry that selects nothing.
 */
function selectSignedFields(fields: readonly HeaderField[], names: readonly string[]): { h: string[]; selected: HeaderField[] } {
  const byName = new Map<string, HeaderField[]>();
  for (const field of fields) {
    const list = byName.get(field.name);
    if (list) list.push(field);
    else byName.set(field.name, [field]);
  }
  const h: string[] = [];
  const selected: HeaderField[] = [];
  for (const name of names) {
    const instances = byName.get(name) ?? [];
    for (let i = instances.length - 1; i >= 0; i--) {
      h.push(name);
      selected.push(instances[i]!);
    }
    if (OVER_SIGNED.has(name)) h.push(name);
  }
  return { h, selected };
}

function signedFieldNames(requested: readonly string[] | undefined): string[] {
  const names: string[] = ['from'];
  for (const raw of requested ?? DEFAULT_SIGNED_HEADERS) {
    const name = raw.trim().toLowerCase();
    // RFC 5322 ftext; ':' would also break the h= list
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new Error(`invalid header field name for DKIM: ${JSON.stringify(raw)}`);
    if (name === 'dkim-signature') throw new Error('DKIM-Signature cannot be listed in h=');
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Signing

/** Builds a folded header, breaking only where FWS is allowed and keeping lines to 78 columns. */
class HeaderFolder {
  text: string;
  private column: number;

  constructor(start: string) {
    this.text = start;
    this.column = start.length;
  }

  /** Appends `word` after `separator`, or on a continuation line when it would not fit. */
  word(word: string, separator = ' '): void {
    if (this.column > 1 && this.column + separator.length + word.length > MAX_LINE) {
      this.text += `\r\n ${word}`;
      this.column = 1 + word.length;
    } else {
      this.text += separator + word;
      this.column += separator.length + word.length;
    }
  }

  /** Appends base64 that may be broken anywhere (FWS is allowed inside b= and bh=). */
  breakable(value: string): void {
    let rest = value;
    while (rest.length > 0) {
      if (this.column >= MAX_LINE) {
        this.text += '\r\n ';
        this.column = 1;
      }
      const piece = rest.slice(0, MAX_LINE - this.column);
      this.text += piece;
      this.column += piece.length;
      rest = rest.slice(piece.length);
    }
  }
}

function checkDnsName(value: string, what: string): void {
  const labels = value.split('.');
  const ok = value.length <= 253 && labels.every((l) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(l));
  if (!ok) throw new Error(`DKIM ${what} ${JSON.stringify(value)} is not a valid DNS name`);
}

/**
 * Returns the DKIM-Signature field (folded, ending in CRLF) to prepend to `message`, a full
 * RFC 5322 message (headers, empty line, body). Throws when the message has no From field.
 */
export function signMessage(message: Buffer, key: DkimKey, opts: SignOptions): string {
  checkDnsName(key.domain, 'domain');
  checkDnsName(key.selector, 'selector');
  if (!Number.isSafeInteger(opts.timestamp) || opts.timestamp < 0) throw new Error(`DKIM timestamp must be whole unix seconds, got ${opts.timestamp}`);
  const keyAlgorithm = dkimAlgorithmOf(key.privateKey);
  if (keyAlgorithm !== key.algorithm) throw new Error(`DKIM key for ${key.selector}._domainkey.${key.domain} is ${keyAlgorithm}, configured as ${key.algorithm}`);

  const { fields, bodyStart } = splitMessage(message);
  if (!fields.some((f) => f.name === 'from')) throw new Error('cannot DKIM-sign a message without a From header');
  const { h, selected } = selectSignedFields(fields, signedFieldNames(opts.headerFields));
  const bodyHash = opts.bodyHash ?? relaxedBodyHash(message.subarray(bodyStart));

  const folder = new HeaderFolder('DKIM-Signature:');
  for (const tag of ['v=1', `a=${key.algorithm}`, 'c=relaxed/relaxed', `d=${key.domain}`, `s=${key.selector}`, `t=${opts.timestamp}`]) {
    folder.word(`${tag};`);
  }
  h.forEach((name, i) => {
    const last = i === h.length - 1;
    if (i === 0) folder.word(`h=${name}${last ? ';' : ':'}`);
    else folder.word(`${name}${last ? ';' : ':'}`, '');
  });
  folder.word(`bh=${bodyHash};`);
  folder.word('b=');

  // the signature covers its own field with an empty b=, canonicalized and without CRLF (3.7)
  let data = '';
  for (const field of selected) data += `${canonicalizeHeaderRelaxed(field.text)}\r\n`;
  data += canonicalizeHeaderRelaxed(folder.text);
  const signature = signHeaderData(Buffer.from(data, 'latin1'), key.algorithm, key.privateKey);

  folder.breakable(signature.toString('base64'));
  return `${folder.text}\r\n`;
}

function signHeaderData(data: Buffer, algorithm: DkimAlgorithm, privateKey: KeyObject): Buffer {
  if (algorithm === 'rsa-sha256') return sign('sha256', data, privateKey);
  // RFC 8463 3: Ed25519 (PureEdDSA) signs the SHA-256 digest of the header data, not the data
  return sign(null, createHash('sha256').update(data).digest(), privateKey);
}
