import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pick, randomText, seededRandom } from '../../../test/helpers/random-text.ts';
import { compileMessage, composeMessage } from './compose-message.ts';
import { writeDirectMessage } from './direct-message.ts';
import { parseMessageRequest, type MessageRequest } from './message-request.ts';

const ids = { messageId: '<abc@relay.test>', date: new Date('2026-11-28T10:00:00Z'), baseBoundary: '0123456789abcdef' };
const BENCH = { from: 'sender@bench.example', to: 'rcpt@dest.example', subject: 'bench', text: 'x'.repeat(1024) };

function build(req: MessageRequest, messageIds = ids): Promise<Buffer> {
  return compileMessage(req, messageIds).build();
}

async function assertDirect(body: unknown, label: string): Promise<void> {
  const req = parseMessageRequest(body);
  const direct = writeDirectMessage(req, ids);
  assert.ok(direct, `${label}: written directly`);
  assert.equal(direct.toString('latin1'), (await build(req)).toString('latin1'), label);
}

test('the direct writer gives exactly the bytes of nodemailer build() for the shapes of API messages', async () => {
  const base = { from: 'App <app@example.com>', to: 'u@example.net', subject: 'Hello' };
  await assertDirect(BENCH, 'the bench message');
  await assertDirect({ ...base, text: 'plain' }, 'text');
  await assertDirect({ ...base, html: '<p>only html</p>' }, 'html');
  await assertDirect({ ...base, text: 'plain', html: '<p>both</p>' }, 'alternative');
  await assertDirect({ ...base, text: '' }, 'empty text');
  await assertDirect({ ...base, text: '', html: '<p>h</p>' }, 'empty text with html');
  await assertDirect({ ...base, text: '', html: '' }, 'empty text and html');
  await assertDirect({ ...base, text: 'a'.repeat(76), html: 'b'.repeat(77) }, 'lines of 76 and 77');
  await assertDirect({ ...base, text: 'trailing space \ntab\t\nend ' }, 'whitespace at line ends and at the end');
  await assertDirect({ ...base, text: 'bare\rCR and\nLF\r' }, 'bare CR/LF');
  await assertDirect({ ...base, text: '.\n.dot\nFrom here\n>From' }, 'dot and From lines');
  await assertDirect({ ...base, text: 'Grüße €, 😀', html: '<b>ü</b>' }, 'unicode, quoted-printable');
  await assertDirect({ ...base, text: 'Привет, мир! '.repeat(30) }, 'mostly non-latin, base64');
  await assertDirect({ ...base, text: 'x'.repeat(70 * 1024) + ' ' }, 'longer than an encoder slice, ending in a space');
  await assertDirect({ ...base, cc: ['c@example.org', 'D <d@example.org>'], replyTo: 'r@example.com', bcc: 'hidden@example.com', text: 't' }, 'cc, reply-to, bcc');
  await assertDirect(
    { ...base, to: [{ name: 'Doe, Jane', address: 'jane@example.net' }, { name: 'O\'Brien "Jr" \\', address: 'ob@example.net' }, { name: 'Jürgen', address: 'j@example.net' }], text: 't' },
    'names that need quoting or encoding',
  );
  await assertDirect(
    {
      ...base,
      to: ['u@EXAMPLE.net', 'x@xn--bcher-kva.example', 'y@mail.123', 'z@[192.0.2.1]', 'a..b@example.net', 'q"x@example.net', 'u@a--b.example'].map((address) => ({ address })),
      text: 't',
    },
    'addresses nodemailer rewrites',
  );
  for (const subject of ['', '   ', 'a "quoted" word', '=?utf-8?Q?valid?=', '=?bad', 'Grüße', 'tab\there', 'word '.repeat(40), 'x'.repeat(200)]) {
    await assertDirect({ ...base, subject, text: 't' }, `subject ${JSON.stringify(subject.slice(0, 20))}`);
  }
  await assertDirect(
    {
      ...base,
      text: 't',
      headers: {
        'x-campaign': 'spring',
        'X-EMPTY': '',
        'x-blank': '   ',
        'x-long': 'v '.repeat(60),
        'x-unicode': 'ü',
        'In-Reply-To': 'parent@example.com',
        References: '<a@x> b@y',
        'list-unsubscribe': '<https://example.com/u?id=1>',
      },
    },
    'custom headers',
  );
  await assertDirect({ ...base, text: 't', headers: { 'message-id': 'own@client.example', Date: 'Tue, 1 Dec 2026 08:00:00 +0100' } }, "the client's Message-ID and Date");
});

const TEXT = ['a', 'Z', ' ', '\t', '\r\n', '\n', '\r', '=', '.', 'ü', '€', '😀', 'Я', 'x'.repeat(90), ' '.repeat(5), '-- ', 'From ', '\u00a0'];
const HEADER_TEXT = ['a', 'Z', ' ', '\t', '"', ',', '=?', '?=', '.', '\\', "'", '<', '>', '(', ')', ';', ':', '@', 'word '.repeat(8), 'ü'];
const LOCAL = ['a', 'B', '.', '+', '_', '-', '!', '%', '"', '9'];
const DOMAIN = ['example.com', 'EXAMPLE.net', 'mail.example.org', 'Mail.example.org', 'a-b.example', 'xn--bcher-kva.example', 'x.123', '1.2.3', '[192.0.2.1]'];

test('the direct writer matches build() for random messages, and writes every one without attachments', async () => {
  let written = 0;
  let withoutAttachments = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const next = seededRandom(seed);
    const headerText = (max: number) => randomText(next, max, next() < 0.7 ? HEADER_TEXT.filter((p) => p !== 'ü') : HEADER_TEXT);
    const mailbox = () => {
      const address = `${randomText(next, 4, LOCAL) || 'u'}@${pick(next, DOMAIN)}`;
      return next() < 0.5 ? { address } : { name: headerText(4), address };
    };
    const body: Record<string, unknown> = { from: mailbox(), to: [mailbox(), mailbox()].slice(0, 1 + Math.floor(next() * 2)) };
    if (next() < 0.3) body.cc = mailbox();
    if (next() < 0.2) body.replyTo = mailbox();
    if (next() < 0.8) body.subject = headerText(12);
    if (next() < 0.3) body.headers = { 'x-tag': headerText(6), 'X-Other-ID': headerText(3) };
    if (next() < 0.8) body.text = randomText(next, 60, TEXT);
    if (next() < 0.4 || body.text === undefined) body.html = randomText(next, 40, TEXT);
    if (next() < 0.15) body.attachments = [{ filename: 'f.txt', content: 'aGVsbG8K' }];
    const req = parseMessageRequest(body);
    const direct = writeDirectMessage(req, ids);
    if (req.attachments.length === 0) withoutAttachments++;
    if (!direct) continue;
    written++;
    assert.equal(direct.toString('latin1'), (await build(req)).toString('latin1'), `seed ${seed}`);
  }
  assert.ok(withoutAttachments >= 240, `the seeds cover messages without attachments (${withoutAttachments} of 300)`);
  assert.equal(written, withoutAttachments, 'every message without attachments is written directly');
});

test('the direct writer declines what it does not reproduce, and composeMessage then builds it with nodemailer', async () => {
  const base = { from: 'app@example.com', to: 'u@example.net', text: 't' };
  assert.equal(writeDirectMessage(parseMessageRequest({ ...base, attachments: [{ filename: 'a.txt', content: 'aGk=' }] }), ids), undefined, 'attachments');
  // nodemailer draws its own Message-ID or Date for an empty one
  assert.equal(writeDirectMessage(parseMessageRequest({ ...base, headers: { 'Message-ID': '' } }), ids), undefined, 'empty Message-ID');
  assert.equal(writeDirectMessage(parseMessageRequest({ ...base, headers: { Date: '' } }), ids), undefined, 'empty Date');
  const subjectHeader: MessageRequest = { ...parseMessageRequest(base), headers: [['subject', 'set twice']] };
  assert.equal(writeDirectMessage(subjectHeader, ids), undefined, 'a header the composer sets itself');

  // composeMessage draws the boundary itself, so boundaries are compared by shape
  const sameBoundaries = (b: Buffer) => b.toString('latin1').replace(/--_NmP-[0-9a-f]{16}-Part_/g, '--_NmP-*-Part_');
  for (const body of [BENCH, { ...base, html: '<p>h</p>' }, { ...base, attachments: [{ filename: 'a.txt', content: 'aGk=' }] }]) {
    const req = parseMessageRequest(body);
    assert.equal(sameBoundaries(await composeMessage(req, ids)), sameBoundaries(await build(req)));
  }
});
