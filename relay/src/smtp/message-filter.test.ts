import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageFilter } from './message-filter.ts';

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

test('the header block is held until complete and inspected', () => {
  const filter = new MessageFilter();
  assert.deepEqual(filter.push(Buffer.from('Subject: x\r\nMessage-')), []);
  const out = filter.push(Buffer.from('ID: <a@b>\r\nFrom: "A" <a@example.com>\r\n\r\nbody'));
  assert.equal(Buffer.concat(out).toString(), 'Subject: x\r\nMessage-ID: <a@b>\r\nFrom: "A" <a@example.com>\r\n\r\nbody');
  assert.deepEqual(filter.headerInfo, { hasMessageId: true, hasDate: false, fromHeader: '"A" <a@example.com>' });
  assert.equal(Buffer.concat(filter.push(Buffer.from('more'))).toString(), 'more', 'body chunks pass straight through');
});

test('header names are matched at line starts only, folded From: is unfolded', () => {
  const { filter } = run(['X-Note: the Date: is missing\r\nFrom: "Long\r\n Name" <a@example.com>\r\n\r\nDate: in the body\r\n']);
  assert.equal(filter.headerInfo?.hasDate, false);
  assert.equal(filter.headerInfo?.fromHeader, '"Long Name" <a@example.com>');
});

test('a message of only headers is flushed at the end; NUL bytes are flagged', () => {
  const { out, filter } = run(['Subject: only\r\n']);
  assert.equal(out, 'Subject: only\r\n');
  assert.equal(filter.headerInfo?.hasMessageId, false);
  assert.equal(filter.hasNul, false);
  assert.equal(run(['Subject: x\r\n\r\na\0b']).filter.hasNul, true);
});
