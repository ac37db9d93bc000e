import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promises as dns } from 'node:dns';
import { after, before, describe, it } from 'node:test';
import { dkimVerify } from 'mailauth';
import type { DKIMResult } from 'mailauth';
import { startDnsServer } from '../../../test/helpers/dns-server.ts';
import {
  buildDkimDnsRecord,
  canonicalizeHeaderRelaxed,
  dkimAlgorithmOf,
  parseDkimPrivateKey,
  RelaxedBodyHash,
  relaxedBodyHash,
  signMessage,
} from './dkim-signer.ts';
import type { DkimAlgorithm, DkimKey } from './dkim-signer.ts';

const DOMAIN = 'example.com';
const SELECTOR = 'relay2026';
const KEY_NAME = `${SELECTOR}._domainkey.${DOMAIN}`;
const EMPTY_SHA256 = createHash('sha256').digest('base64');

/** mailauth's per-signature result carries more than its typings declare. */
type VerifyResult = DKIMResult & { bodyHash?: string; bodyHashExpecting?: string };

interface KeyPair {
  readonly key: DkimKey;
  readonly record: string;
}

function keyPair(algorithm: DkimAlgorithm, privateKey: KeyObject, publicKey: KeyObject): KeyPair {
  return { key: { domain: DOMAIN, selector: SELECTOR, algorithm, privateKey }, record: buildDkimDnsRecord(publicKey) };
}

function now(): number {
  // a minute back, so the verifier never sees a signature from the future
  return Math.floor(Date.now() / 1000) - 60;
}

function sign(pair: KeyPair, message: Buffer | string, headerFields?: string[]): Buffer {
  const body = Buffer.isBuffer(message) ? message : Buffer.from(message, 'utf8');
  const header = signMessage(body, pair.key, { timestamp: now(), ...(headerFields ? { headerFields } : {}) });
  return Buffer.concat([Buffer.from(header, 'latin1'), body]);
}

/** Verifies with mailauth, serving the key from memory; returns the one signature's result. */
async function verify(signed: Buffer, record: string): Promise<VerifyResult> {
  const lookups: string[] = [];
  const result = await dkimVerify(signed, {
    resolver: async (name: string, rrtype: string) => {
      lookups.push(`${name}/${rrtype}`);
      if (name === KEY_NAME && rrtype === 'TXT') return [[record]];
      throw Object.assign(new Error(`no ${rrtype} for ${name}`), { code: 'ENOTFOUND' });
    },
  });
  assert.equal(result.results.length, 1, 'exactly one signature is found');
  const first = result.results[0] as VerifyResult;
  if (first.status.result === 'pass') assert.deepEqual(lookups, [`${KEY_NAME}/TXT`]);
  return first;
}

function assertPass(result: VerifyResult): void {
  assert.equal(result.status.result, 'pass', `expected pass, got ${result.status.result} (${result.status.comment ?? ''})`);
}

const SIMPLE =
  'From: Alice <alice@example.com>\r\n' +
  'To: Bob <bob@example.org>\r\n' +
  'Subject: Quarterly numbers\r\n' +
  'Date: Sat, 28 Nov 2026 14:31:00 +0000\r\n' +
  'Message-ID: <q1.2026@example.com>\r\n' +
  'MIME-Version: 1.0\r\n' +
  'Content-Type: text/plain; charset=us-ascii\r\n' +
  '\r\n' +
  'Hello Bob,\r\n' +
  '\r\n' +
  'the numbers are in.\r\n';

/** Headers of `signed`'s DKIM-Signature field, unfolded, as tag -> value. */
function signatureTags(signed: Buffer): Map<string, string> {
  const text = signed.toString('latin1');
  const end = text.search(/\r\n(?![ \t])/);
  const field = text.slice('DKIM-Signature:'.length, end).replace(/\r\n[ \t]/g, ' ');
  return new Map(
    field
      .split(';')
      .map((tag) => tag.trim())
      .filter(Boolean)
      .map((tag) => {
        const eq = tag.indexOf('=');
        return [tag.slice(0, eq).trim(), tag.slice(eq + 1).replace(/\s+/g, '')] as const;
      }),
  );
}

describe('DKIM signer', () => {
  let rsa: KeyPair;
  let ed: KeyPair;
  let rsaPkcs1Pem: string;
  let rsaPkcs8Pem: string;
  let edPem: string;

  before(() => {
    const r = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const e = generateKeyPairSync('ed25519');
    rsaPkcs1Pem = r.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    rsaPkcs8Pem = r.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    edPem = e.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    rsa = keyPair('rsa-sha256', parseDkimPrivateKey(rsaPkcs1Pem), r.publicKey);
    ed = keyPair('ed25519-sha256', parseDkimPrivateKey(Buffer.from(edPem)), e.publicKey);
  });

  const both = (): Array<[string, KeyPair]> => [
    ['rsa-sha256', rsa],
    ['ed25519-sha256', ed],
  ];

  describe('keys and DNS records', () => {
    it('parses PKCS#1 and PKCS#8 RSA and PKCS#8 Ed25519 PEM', () => {
      assert.equal(dkimAlgorithmOf(parseDkimPrivateKey(rsaPkcs1Pem)), 'rsa-sha256');
      assert.equal(dkimAlgorithmOf(parseDkimPrivateKey(rsaPkcs8Pem)), 'rsa-sha256');
      assert.equal(dkimAlgorithmOf(parseDkimPrivateKey(edPem)), 'ed25519-sha256');
    });

    it('rejects unreadable, unsupported and too-short keys with a clear message', () => {
      assert.throws(() => parseDkimPrivateKey('not a key'), /DKIM private key is not a readable unencrypted PEM private key/);
      const publicPem = createPublicKey(rsa.key.privateKey).export({ type: 'spki', format: 'pem' });
      assert.throws(() => parseDkimPrivateKey(publicPem), /not a readable/);
      const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
      assert.throws(() => parseDkimPrivateKey(ec), /key type ec is not supported; use RSA or Ed25519/);
      const small = generateKeyPairSync('rsa', { modulusLength: 768 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
      assert.throws(() => parseDkimPrivateKey(small), /768 bits; at least 1024/);
    });

    it('publishes RSA as SPKI and Ed25519 as the raw 32-byte key', () => {
      const rsaP = /^v=DKIM1; k=rsa; p=([A-Za-z0-9+/=]+)$/.exec(rsa.record)?.[1];
      assert.ok(rsaP, rsa.record);
      const published = createPublicKey({ key: Buffer.from(rsaP, 'base64'), format: 'der', type: 'spki' });
      assert.ok(published.equals(createPublicKey(rsa.key.privateKey)), 'p= is the SPKI DER of the public key');
      const edP = /^v=DKIM1; k=ed25519; p=([A-Za-z0-9+/=]+)$/.exec(ed.record)?.[1];
      assert.ok(edP, ed.record);
      assert.equal(Buffer.from(edP, 'base64').length, 32);
      // a private key or PEM yields the same record as its public half
      assert.equal(buildDkimDnsRecord(ed.key.privateKey), ed.record);
      assert.equal(buildDkimDnsRecord(rsaPkcs8Pem), rsa.record);
    });
  });

  describe('canonicalization', () => {
    it('relaxes header fields per RFC 6376 3.4.2', () => {
      assert.equal(canonicalizeHeaderRelaxed('SubJect \t:  Hello \t  world \r\n\t again  '), 'subject:Hello world again');
      assert.equal(canonicalizeHeaderRelaxed('X-Empty:'), 'x-empty:');
      // only SP and HTAB are whitespace: 0xA0 (a UTF-8 continuation byte) stays
      assert.equal(canonicalizeHeaderRelaxed('Subject: \xc3\xa0 la'), 'subject:\xc3\xa0 la');
    });

    it('relaxes bodies per RFC 6376 3.4.4', () => {
      const h = (s: string): string => relaxedBodyHash(Buffer.from(s, 'latin1'));
      const sha = (s: string): string => createHash('sha256').update(s, 'latin1').digest('base64');
      assert.equal(h(''), EMPTY_SHA256);
      assert.equal(h('\r\n\r\n  \r\n'), EMPTY_SHA256, 'only empty lines is an empty body');
      assert.equal(h('a  b\t\tc \t\r\n'), sha('a b c\r\n'));
      assert.equal(h(' \tlead\r\n'), sha(' lead\r\n'));
      assert.equal(h('no newline at end'), sha('no newline at end\r\n'));
      assert.equal(h('x\r\n\r\n \r\ny\r\n\r\n\r\n'), sha('x\r\n\r\n\r\ny\r\n'));
      assert.equal(h('bare\nlf\n'), sha('bare\r\nlf\r\n'));
      assert.equal(h('lone\rcr\r\n'), sha('lone\rcr\r\n'));
    });

    it('gives the same body hash however the body is chunked', () => {
      const body = Buffer.from('a \t b\r\n\r\n  \r\nline two  \r\n\tx\r\n\r\n\r\nend \r\n \r\n\r\n', 'latin1');
      const whole = relaxedBodyHash(body);
      for (let size = 1; size <= 7; size++) {
        const parts: Buffer[] = [];
        for (let i = 0; i < body.length; i += size) parts.push(body.subarray(i, i + size));
        assert.equal(relaxedBodyHash(parts), whole, `chunks of ${size}`);
      }
      // split inside CRLF
      const hasher = new RelaxedBodyHash();
      hasher.update(Buffer.from('end\r'));
      hasher.update(Buffer.from('\nmore\r\n'));
      assert.equal(hasher.digest(), relaxedBodyHash(Buffer.from('end\r\nmore\r\n')));
    });

    it('matches mailauth on random whitespace-heavy bodies', async () => {
      const alphabet = ['a', 'b', ' ', ' ', '\t', '\r\n', '\r\n', '\n', 'é'];
      for (let round = 0; round < 40; round++) {
        // SMTP DATA always ends the body with CRLF; mailauth keeps a final unterminated
        // whitespace-only line as content, where RFC 6376 3.4.4 drops it as we do
        let body = '';
        const length = 1 + (randomBytes(1)[0]! % 120);
        for (let i = 0; i < length; i++) body += alphabet[randomBytes(1)[0]! % alphabet.length];
        body += '\r\n';
        const signed = sign(ed, `From: a@example.com\r\nSubject: fuzz ${round}\r\n\r\n${body}`);
        const result = await verify(signed, ed.record);
        assert.equal(result.bodyHash, result.bodyHashExpecting, `body ${JSON.stringify(body)}`);
        assertPass(result);
      }
    });
  });

  describe('signing and verifying with mailauth', () => {
    for (const name of ['rsa-sha256', 'ed25519-sha256']) {
      it(`signs a simple message (${name})`, async () => {
        const pair = name === 'rsa-sha256' ? rsa : ed;
        const signed = sign(pair, SIMPLE);
        assertPass(await verify(signed, pair.record));
        const tags = signatureTags(signed);
        assert.equal(tags.get('v'), '1');
        assert.equal(tags.get('a'), name);
        assert.equal(tags.get('c'), 'relaxed/relaxed');
        assert.equal(tags.get('d'), DOMAIN);
        assert.equal(tags.get('s'), SELECTOR);
        assert.match(tags.get('t') ?? '', /^\d{10}$/);
        assert.equal(tags.get('h'), 'from:from:subject:date:message-id:to:mime-version:content-type');
        assert.equal(tags.get('bh'), relaxedBodyHash(Buffer.from('Hello Bob,\r\n\r\nthe numbers are in.\r\n')));
      });
    }

    it('folds the header to short lines with CRLF and continuation whitespace', () => {
      const header = signMessage(Buffer.from(SIMPLE), rsa.key, { timestamp: 1795000000 });
      assert.ok(header.startsWith('DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;'));
      assert.ok(header.endsWith('\r\n') && !header.endsWith('\r\n\r\n'));
      const lines = header.slice(0, -2).split('\r\n');
      assert.ok(lines.length > 4, 'a 2048-bit signature needs several lines');
      for (const line of lines) assert.ok(line.length <= 78, `line too long: ${line}`);
      for (const line of lines.slice(1)) assert.match(line, /^[ \t]\S/);
      assert.doesNotMatch(header, /[^\r]\n|\r[^\n]/, 'only CRLF line breaks');
      assert.match(header, /t=1795000000;/);
    });

    it('is deterministic for Ed25519 (pure: same inputs, same output)', () => {
      const a = signMessage(Buffer.from(SIMPLE), ed.key, { timestamp: 1795000000 });
      const b = signMessage(Buffer.from(SIMPLE), ed.key, { timestamp: 1795000000 });
      assert.equal(a, b);
      assert.notEqual(signMessage(Buffer.from(SIMPLE), ed.key, { timestamp: 1795000001 }), a);
    });

    it('survives folded headers, trailing whitespace, WSP runs and trailing blank lines', async () => {
      const messy =
        'From:   "Alice  Example"\t <alice@example.com>  \r\n' +
        'To: bob@example.org,\r\n' +
        '\t carol@example.org,\r\n' +
        '    dave@example.org\r\n' +
        'Subject:\tA    subject \t with   runs   \r\n' +
        '  and a fold\r\n' +
        'Date: Sat, 28 Nov 2026 14:31:00 +0000\r\n' +
        'content-TYPE  : text/plain;\r\n\tcharset="us-ascii"\r\n' +
        '\r\n' +
        '  Indented   line with    runs\t\t\r\n' +
        'trailing spaces    \r\n' +
        '\t\r\n' +
        'tabs\tinside\t\there\r\n' +
        '\r\n' +
        '\r\n' +
        '   \r\n' +
        '\r\n';
      const cleanBody = ' Indented line with runs\r\ntrailing spaces\r\n\r\ntabs inside here\r\n';
      assert.equal(relaxedBodyHash(Buffer.from(messy.slice(messy.indexOf('\r\n\r\n') + 4))), relaxedBodyHash(Buffer.from(cleanBody)));
      for (const [name, pair] of both()) {
        const signed = sign(pair, messy);
        const result = await verify(signed, pair.record);
        assertPass(result);
        assert.equal(signatureTags(signed).get('h'), 'from:from:subject:date:to:content-type', name);
      }
    });

    it('signs repeated headers bottom-up, so their order is protected', async () => {
      const message =
        'From: alice@example.com\r\n' +
        'X-Tag: first\r\n' +
        'Subject: tags\r\n' +
        'X-Tag: second\r\n' +
        'Received: from a by b; Sat, 28 Nov 2026 14:31:00 +0000\r\n' +
        'Received: from c by d; Sat, 28 Nov 2026 14:30:00 +0000\r\n' +
        '\r\n' +
        'body\r\n';
      const signed = sign(rsa, message, ['x-tag', 'subject']);
      assertPass(await verify(signed, rsa.record));
      assert.equal(signatureTags(signed).get('h'), 'from:from:x-tag:x-tag:subject');
      // Received is not signed: adding one on the way is fine
      assertPass(await verify(Buffer.concat([signed.subarray(0, signed.indexOf('From:')), Buffer.from('Received: from e by f\r\n'), signed.subarray(signed.indexOf('From:'))]), rsa.record));
      const swapped = Buffer.from(signed.toString('latin1').replace('X-Tag: first', 'X-Tag: TMP').replace('X-Tag: second', 'X-Tag: first').replace('X-Tag: TMP', 'X-Tag: second'), 'latin1');
      assert.equal((await verify(swapped, rsa.record)).status.result, 'fail');
    });

    it('over-signs From: a second From added after signing breaks the signature', async () => {
      const signed = sign(ed, SIMPLE);
      // added above the signed one, where a verifier's bottom-up h= matching would not look
      // unless h= lists from once more than it occurred
      const spoofed = Buffer.concat([Buffer.from('From: Mallory <ceo@example.com>\r\n'), signed]);
      const result = await verify(spoofed, ed.record);
      assert.equal(result.status.result, 'fail');
      assert.equal(result.status.comment, 'bad signature');
    });

    it('fails when the body or a signed header changes after signing', async () => {
      for (const [name, pair] of both()) {
        const signed = sign(pair, SIMPLE).toString('latin1');
        const bodyChanged = await verify(Buffer.from(signed.replace('numbers are in', 'numbers are out'), 'latin1'), pair.record);
        assert.equal(bodyChanged.status.result, 'neutral', name);
        assert.equal(bodyChanged.status.comment, 'body hash did not verify', name);
        assert.notEqual(bodyChanged.bodyHash, bodyChanged.bodyHashExpecting);
        const headerChanged = await verify(Buffer.from(signed.replace('Quarterly numbers', 'Quarterly Numbers'), 'latin1'), pair.record);
        assert.equal(headerChanged.status.result, 'fail', name);
        assert.equal(headerChanged.status.comment, 'bad signature', name);
        // relaxed canonicalization tolerates refolding and whitespace changes
        const refolded = await verify(Buffer.from(signed.replace('Subject: Quarterly numbers', 'Subject:   Quarterly\r\n\tnumbers  '), 'latin1'), pair.record);
        assertPass(refolded);
      }
    });

    it('signs an empty body, with or without the separating blank line', async () => {
      const signed = sign(rsa, 'From: a@example.com\r\nSubject: empty\r\n\r\n');
      assert.equal(signatureTags(signed).get('bh'), EMPTY_SHA256);
      assertPass(await verify(signed, rsa.record));
      const headersOnly = sign(rsa, 'From: a@example.com\r\nSubject: empty\r\n');
      assert.equal(signatureTags(headersOnly).get('bh'), EMPTY_SHA256);
      // mailauth needs the blank line to find the end of the headers; adding it changes nothing signed
      assertPass(await verify(Buffer.concat([headersOnly, Buffer.from('\r\n')]), rsa.record));
    });

    it('signs 8-bit UTF-8 headers and body', async () => {
      const message = Buffer.from(
        'From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.com>\r\n' +
          'To: Zoë <zoe@example.org>\r\n' +
          'Subject: Grüße — 日本語 🎉\r\n' +
          'Content-Type: text/plain; charset=utf-8\r\n' +
          'Content-Transfer-Encoding: 8bit\r\n' +
          '\r\n' +
          'Schöne   Grüße,\t\r\nÇa va? Ωμέγα — 你好 🎉  \r\n',
        'utf8',
      );
      for (const [, pair] of both()) assertPass(await verify(sign(pair, message), pair.record));
    });

    it('signs a 5 MiB body', async () => {
      const line = Buffer.from(`${randomBytes(57).toString('base64')}\r\n`);
      const body = Buffer.concat(Array.from({ length: Math.ceil((5 * 2 ** 20) / line.length) }, () => line));
      const message = Buffer.concat([Buffer.from('From: a@example.com\r\nSubject: big\r\nContent-Type: application/octet-stream\r\n\r\n'), body]);
      const signed = sign(rsa, message);
      const result = await verify(signed, rsa.record);
      assertPass(result);
      assert.equal(result.bodyHash, createHash('sha256').update(body).digest('base64'), 'an already canonical body hashes as is');
    });

    it('verifies through a real DNS server on loopback', async () => {
      const server = await startDnsServer({ [KEY_NAME]: { txt: [[rsa.record]] } });
      after(() => server.close());
      const resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
      resolver.setServers([server.server]);
      const result = await dkimVerify(sign(rsa, SIMPLE), { resolver: (name, rrtype) => resolver.resolve(name, rrtype) as Promise<string[][]> });
      const first = result.results[0];
      assert.ok(first);
      assert.equal(first.status.result, 'pass', first.status.comment);
      assert.ok(server.queries.some((q) => q.name === KEY_NAME.toLowerCase() && q.type === 'TXT'));
      // the record is longer than 255 bytes, so it travelled as several strings
      assert.ok(rsa.record.length > 255);
    });
  });

  describe('input checks', () => {
    it('refuses a message without From', () => {
      assert.throws(() => signMessage(Buffer.from('Subject: x\r\n\r\nbody\r\n'), rsa.key, { timestamp: 1 }), /without a From header/);
    });

    it('refuses a key that does not match its algorithm, bad names and bad timestamps', () => {
      const message = Buffer.from(SIMPLE);
      assert.throws(() => signMessage(message, { ...rsa.key, algorithm: 'ed25519-sha256' }, { timestamp: 1 }), /is rsa-sha256, configured as ed25519-sha256/);
      assert.throws(() => signMessage(message, { ...rsa.key, domain: 'bad domain' }, { timestamp: 1 }), /domain "bad domain" is not a valid DNS name/);
      assert.throws(() => signMessage(message, { ...rsa.key, selector: 'a;b' }, { timestamp: 1 }), /selector/);
      assert.throws(() => signMessage(message, rsa.key, { timestamp: 1.5 }), /whole unix seconds/);
      assert.throws(() => signMessage(message, rsa.key, { timestamp: 1, headerFields: ['bad:name'] }), /invalid header field name/);
    });
  });
});
