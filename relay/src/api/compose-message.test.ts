import { test } from 'node:test';
import assert from 'node:assert/strict';
import type MimeNode from 'nodemailer/lib/mime-node';
import { randomText, seededRandom } from '../../../test/helpers/random-text.ts';
import { compileMessage, serializeInMemory } from './compose-message.ts';
import { parseMessageRequest } from './message-request.ts';

const ids = { messageId: '<abc@relay.test>', date: new Date('2026-11-28T10:00:00Z'), baseBoundary: '0123456789abcdef' };

function build(node: MimeNode): Promise<Buffer> {
  return new Promise((resolve, reject) => node.build((err, message) => (err ? reject(err) : resolve(message))));
}

const PIECES = ['a', 'Z', ' ', '\t', '\r\n', '\n', '\r', '=', '.', 'ü', '€', '😀', 'x'.repeat(90), ' '.repeat(5), '-- ', 'From ', '\u00a0'];

async function assertSame(body: unknown, label: string): Promise<void> {
  const node = compileMessage(parseMessageRequest(body), ids);
  const fast = serializeInMemory(node);
  assert.ok(fast, `${label}: handled in memory`);
  assert.equal(fast.toString('latin1'), (await build(node)).toString('latin1'), label);
}

test('the in-memory serialisation gives exactly the bytes of nodemailer build() for the shapes of API messages', async () => {
  const base = { from: 'App <app@example.com>', to: 'u@example.net', subject: 'Grüße' };
  await assertSame({ ...base, text: 'plain' }, 'text');
  await assertSame({ ...base, text: '' }, 'empty text');
  await assertSame({ ...base, html: '<p>only html</p>' }, 'html');
  await assertSame({ ...base, text: 'x'.repeat(2000), html: '<b>€</b>' }, 'alternative');
  await assertSame({ ...base, text: 't', attachments: [{ filename: 'a.bin', content: Buffer.alloc(3000, 7).toString('base64') }] }, 'mixed');
  await assertSame(
    { ...base, text: 't', headers: { 'In-Reply-To': '<grüße@example.org>', References: '<ü@example.org>' }, attachments: [{ filename: 'a.txt', content: 'aGk=' }] },
    'non-ASCII kept as UTF-8 in In-Reply-To and References',
  );
  await assertSame(
    { ...base, text: 't', html: '<p>h</p>', attachments: [{ filename: 'a.pdf', content: 'JVBERi0=', contentType: 'application/pdf' }, { filename: 'b.txt', content: 'aGVsbG8K' }] },
    'alternative in mixed',
  );
});

test('the in-memory serialisation matches build() for random texts (whitespace at line ends, long lines, bare CR/LF, unicode)', async () => {
  let fastPath = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const next = seededRandom(seed);
    const text = (max: number) => randomText(next, max, PIECES);
    const body: Record<string, unknown> = { from: 'app@example.com', to: 'u@example.net', subject: text(5).replace(/[\r\n\t]/g, ' ') };
    if (next() < 0.8) body.text = text(60);
    if (next() < 0.4 || body.text === undefined) body.html = text(40);
    if (next() < 0.3) body.attachments = [{ filename: 'f.txt', content: Buffer.from(text(30)).toString('base64'), contentType: next() < 0.5 ? 'text/plain' : 'application/octet-stream' }];
    const node = compileMessage(parseMessageRequest(body), ids);
    const fast = serializeInMemory(node);
    const slow = await build(node);
    // a tree the fast path declines (quoted-printable outside text/*) is built by build() itself
    if (!fast) continue;
    fastPath++;
    assert.equal(fast.toString('latin1'), slow.toString('latin1'), `seed ${seed}`);
  }
  assert.ok(fastPath >= 120, `most random messages take the in-memory path (${fastPath} of 150)`);
});
