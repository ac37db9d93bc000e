import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HEADER_BLOCK, MessageFilter } from './message-filter.ts';

function run(chunks: string[]): { out: string; filter: MessageFilter } {
  const filter = new MessageFilter();
  const parts: Buffer[] = [];
  for (const c of chunks) parts.push(...filter.push(Buffer.from(c, 'latin1')));
  parts.push(...filter.end());
  return { out: Buffer.concat(parts).toString('latin1'), filter };
}

test('bare LF becomes CRLF, also across chunk boundaries', () => {
  assert.equal(run(['a: 1\nb: 2\n\nbody\n']).out, 'a: 1\r\nb: 2\r\n\r\nbody\r\n');
  assert.equal(run(['a: 1\r', '\nb: 2\r\n\r\nx\r', '\n']).out, 'a: 1\r\nb: 2\r\n\r\nx\r\n', 'CR at the end of a chunk pairs with LF at the start of the next');
  assert.equal(run(['a: 1\r\n\r\nx', '\ny']).out, 'a: 1\r\n\r\nx\r\ny');
  assert.equal(run(['\n\nbody']).out, '\r\n\r\nbody');
});

test('bare CR becomes CRLF, in headers and body, also at a chunk boundary', () => {
  assert.equal(run(['a: 1\rb: 2\r\r\nbody\rline\r\n']).out, 'a: 1\r\nb: 2\r\n\r\nbody\r\nline\r\n');
  assert.equal(run(['a: 1\r\n\r\nx\r', 'y\r', '\r', '\n']).out, 'a: 1\r\n\r\nx\r\ny\r\n\r\n', 'a CR ending a chunk is bare unless the next chunk starts with LF');
  assert.equal(run(['a: 1\r\n\r\n\r\r\n\n']).out, 'a: 1\r\n\r\n\r\n\r\n\r\n');
  const { filter } = run(['From: a@example.com\rSubject: x\r\rbody']);
  assert.deepEqual(filter.headerInfo?.from, ['a@example.com'], 'lines ended by bare CR are header lines like any other');
});

test('every chunking of a message gives the same bytes and header fields', () => {
  const message = 'From: a@example.com\r\nSender: s@example.com\nSubject: x\r\r\nbody\rmore\n\r\nend';
  const whole = run([message]);
  for (let size = 1; size <= 7; size++) {
    const chunks: string[] = [];
    for (let i = 0; i < message.length; i += size) chunks.push(message.slice(i, i + size));
    const split = run(chunks);
    assert.equal(split.out, whole.out, `chunks of ${size}`);
    assert.deepEqual(split.filter.headerInfo, whole.filter.headerInfo, `chunks of ${size}`);
  }
  assert.deepEqual(whole.filter.headerInfo, { hasMessageId: false, hasDate: false, from: ['a@example.com'], sender: ['s@example.com'], resent: [], malformedField: false, labels: new Map() });
});

test('the header block is held until complete and inspected', () => {
  const filter = new MessageFilter();
  assert.deepEqual(filter.push(Buffer.from('Subject: x\r\nMessage-')), []);
  const out = filter.push(Buffer.from('ID: <a@b>\r\nFrom: "A" <a@example.com>\r\n\r\nbody'));
  assert.equal(Buffer.concat(out).toString(), 'Subject: x\r\nMessage-ID: <a@b>\r\nFrom: "A" <a@example.com>\r\n\r\nbody');
  assert.deepEqual(filter.headerInfo, { hasMessageId: true, messageId: '<a@b>', hasDate: false, from: ['"A" <a@example.com>'], sender: [], resent: [], malformedField: false, labels: new Map() });
  assert.equal(Buffer.concat(filter.push(Buffer.from('more'))).toString(), 'more', 'body chunks pass straight through');
});

test('header names are matched at line starts only, folded From: is unfolded, every From: is reported', () => {
  const { filter } = run(['X-Note: the Date: is missing\r\nFrom: "Long\r\n Name" <a@example.com>\r\nFROM : b@other.test\r\n\r\nDate: in the body\r\nFrom: c@body.test\r\n']);
  assert.equal(filter.headerInfo?.hasDate, false);
  assert.deepEqual(filter.headerInfo?.from, ['"Long Name" <a@example.com>', 'b@other.test']);
});

test('a message of only headers is flushed at the end; NUL bytes are flagged', () => {
  const { out, filter } = run(['Subject: only\r\n']);
  assert.equal(out, 'Subject: only\r\n');
  assert.equal(filter.headerInfo?.hasMessageId, false);
  assert.equal(filter.hasNul, false);
  assert.equal(run(['Subject: x\r\n\r\na\0b']).filter.hasNul, true);
});

test('a header block sent one byte per chunk (200 KiB) is found and inspected', () => {
  const filter = new MessageFilter();
  const head = `From: a@example.com\r\n${'X-Filler: 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n'.repeat(2600)}\r\n`;
  assert.ok(head.length > 200 * 1024 && head.length < MAX_HEADER_BLOCK);
  const bytes = Buffer.from(`${head}body\r\n`, 'latin1');
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) parts.push(...filter.push(bytes.subarray(i, i + 1)));
  parts.push(...filter.end());
  assert.equal(Buffer.concat(parts).toString('latin1'), bytes.toString('latin1'));
  assert.deepEqual(filter.headerInfo?.from, ['a@example.com']);
  assert.equal(filter.headerTooLong, false);
});

test('a header block longer than the limit is flagged and no longer held', () => {
  const filter = new MessageFilter();
  const line = Buffer.from(`X-Filler: ${'y'.repeat(1000)}\r\n`);
  let held = 0;
  for (let i = 0; i * line.length <= MAX_HEADER_BLOCK; i++) held += filter.push(line).length;
  assert.equal(filter.headerTooLong, true);
  assert.equal(held, 0);
  assert.deepEqual(filter.push(Buffer.from('From: a@example.com\r\n\r\n')), [], 'nothing more is passed on');
  assert.equal(filter.headerInfo, undefined);
});

test('Resent-From: and Resent-Sender: are collected, whatever their case, folding or blanks before the colon', () => {
  const { filter } = run(['From: a@example.com\r\nRESENT-from : r@x.test\r\nresent-Sender:\r\n "S"\r\n\t<s@y.test>\r\nResent-To: t@z.test\r\n\r\nbody']);
  assert.deepEqual(filter.headerInfo?.resent, [
    { name: 'resent-from', value: 'r@x.test' },
    { name: 'resent-sender', value: '"S"\t<s@y.test>' },
  ]);
});

test('a field name with a control, 8-bit or inner blank character, or a folded line that continues no field, marks the header malformed; blanks before the colon do not', () => {
  assert.equal(run(['From \t: a@example.com\r\nSubject : x\r\n folded\r\n\r\nbody']).filter.headerInfo?.malformedField, false);
  for (const line of ['From\v: b@other.test', 'From\xa0: b@other.test', 'X Pad: 1', ': empty name', 'From\r\n : b@other.test', 'no colon\r\n\tfolded']) {
    assert.equal(run([`From: a@example.com\r\n${line}\r\n\r\nbody`]).filter.headerInfo?.malformedField, true, JSON.stringify(line));
  }
  assert.equal(run([' From: b@other.test\r\nFrom: a@example.com\r\n\r\nbody']).filter.headerInfo?.malformedField, true, 'a folded first line');
  assert.equal(run(['From: a@example.com\r\nno colon\r\n\r\nbody']).filter.headerInfo?.malformedField, false, 'a line without a colon alone is left as it is');
});

test('the X-Mail-Relay label fields are taken out of the header block, unfolded, whatever the chunking', () => {
  const message =
    'From: a@example.com\r\nX-Mail-Relay-Category: newsletter\r\nSubject: x\r\nx-mail-relay-tags: spring,\r\n\tsale\r\n' +
    'X-Mail-Relay-Metadata: {"campaign":\r\n "caf\xc3\xa9"}\r\nTo: b@example.net\r\n\r\nX-Mail-Relay-Category: in the body stays\r\n';
  const expected = 'From: a@example.com\r\nSubject: x\r\nTo: b@example.net\r\n\r\nX-Mail-Relay-Category: in the body stays\r\n';
  for (let size = 1; size <= message.length; size += size < 8 ? 1 : 37) {
    const chunks: string[] = [];
    for (let i = 0; i < message.length; i += size) chunks.push(message.slice(i, i + size));
    const { out, filter } = run(chunks);
    assert.equal(out, expected, `chunks of ${size}`);
    assert.deepEqual(
      filter.headerInfo?.labels,
      new Map([
        ['x-mail-relay-category', ['newsletter']],
        ['x-mail-relay-tags', ['spring,\tsale']],
        ['x-mail-relay-metadata', ['{"campaign": "caf\xc3\xa9"}']],
      ]),
      `chunks of ${size}`,
    );
  }
});

test('label fields are removed from a message that is all headers, and every occurrence is reported', () => {
  const { out, filter } = run(['X-Mail-Relay-Category: a\r\nSubject: x\r\nX-Mail-Relay-Category: b']);
  assert.equal(out, 'Subject: x\r\n');
  assert.deepEqual(filter.headerInfo?.labels.get('x-mail-relay-category'), ['a', 'b']);
  assert.equal(run(['Subject: x\r\n\r\nbody']).out, 'Subject: x\r\n\r\nbody', 'nothing to remove: the bytes are the same');
});

test('a header block of thousands of label fields is taken apart whole (values collected in place, not copied per field)', () => {
  const line = 'X-Mail-Relay-Tags: a\r\n';
  const count = Math.floor((MAX_HEADER_BLOCK - 100) / line.length);
  const { out, filter } = run([line.repeat(count) + 'Subject: x\r\n\r\nbody']);
  assert.equal(out, 'Subject: x\r\n\r\nbody');
  assert.equal(filter.headerInfo?.labels.get('x-mail-relay-tags')?.length, count);
});
