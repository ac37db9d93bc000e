import { test } from 'node:test';
import assert from 'node:assert/strict';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream';
import { passesUnchanged } from './data-stream-patch.ts';
import { randomText, seededRandom } from '../../../test/helpers/random-text.ts';

/** What DATA must carry (RFC 5321 4.5.2, and bare CR or LF as CRLF), written from the rule, not from nodemailer. */
function expected(input: string): string {
  const lines = input.split(/\r\n|\r|\n/);
  // a text that ends with a line break gets no extra empty line before the final dot
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  return lines.map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n') + '\r\n.\r\n';
}

async function encode(chunks: Buffer[]): Promise<string> {
  const stream = new DataStream();
  const out: Buffer[] = [];
  stream.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((resolve) => stream.on('end', resolve));
  for (const c of chunks) stream.write(c);
  stream.end();
  await ended;
  return Buffer.concat(out).toString('latin1');
}

const PIECES = ['a', 'hello world', '\r\n', '\r\n', '\r\n', '\r', '\n', '.', '..', '\r\n.', 'x'.repeat(70)];

test('DATA encoding with the fast path matches the rule for random texts split at random points', async () => {
  let unchanged = 0;
  for (let seed = 1; seed <= 400; seed++) {
    const next = seededRandom(seed);
    const text = randomText(next, 40, PIECES);
    const bytes = Buffer.from(text, 'latin1');
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const len = 1 + Math.floor(next() * 30);
      chunks.push(bytes.subarray(at, at + len));
      at += len;
    }
    if (chunks.length > 0 && passesUnchanged(chunks[0]!, false)) unchanged++;
    assert.equal(await encode(chunks), expected(text), `seed ${seed}: ${JSON.stringify(text)}`);
  }
  assert.ok(unchanged > 50, `some random chunks take the fast path (${unchanged})`);
});

test('a clean message passes unchanged; bare line ends and leading dots do not', () => {
  const clean = Buffer.from('Subject: x\r\n\r\nline one\r\nline two\r\n');
  assert.equal(passesUnchanged(clean, false), true);
  assert.equal(passesUnchanged(Buffer.from('\nx'), 0x0d), true);
  for (const bad of ['.starts with a dot\r\n', 'a\nb', 'a\rb', 'a\r\n.b']) assert.equal(passesUnchanged(Buffer.from(bad), false), false, JSON.stringify(bad));
  assert.equal(passesUnchanged(Buffer.from('.x'), 0x0a), false, 'a dot after a chunk that ended a line');
  assert.equal(passesUnchanged(Buffer.from('x'), 0x0d), false, 'a bare CR at the end of the previous chunk');
});
