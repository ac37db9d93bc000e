import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAge, formatListEntry, formatListFooter } from './format-queue.ts';
import type { MessageView } from './message-view.ts';

const view: MessageView = {
  id: '0MHX1Q2W3E4R5T6Y',
  state: 'held',
  active: false,
  adminHold: true,
  pausedHold: false,
  size: 2048,
  from: '',
  createdAt: '2026-12-04T18:00:00.000Z',
  ageSeconds: 7300,
  attempts: 1,
  nextAttemptAt: '2026-12-04T19:00:00.000Z',
  expiresAt: '2026-12-09T18:00:00.000Z',
  recipients: [
    { address: 'to@example.net', status: 'pending', lastReply: '451 4.7.1 \x1b[31mred\r\ninjected' },
    { address: 'done@example.net', status: 'delivered', lastReply: '250 ok' },
  ],
  origin: { listener: 'dsn', clientAddress: '' },
};

test('a list entry marks a held message with !, shows the null sender as MAILER-DAEMON and only pending recipients', () => {
  assert.equal(
    formatListEntry(view),
    `0MHX1Q2W3E4R5T6Y!     2048    2h MAILER-DAEMON\n${' '.repeat(33)}to@example.net  pending  451 4.7.1 ?[31mred??injected\n`,
  );
  assert.match(formatListEntry({ ...view, active: true }), /^0MHX1Q2W3E4R5T6Y\* /);
});

test('queue data never puts control characters on the terminal', () => {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  assert.doesNotMatch(formatListEntry({ ...view, from: 'a\x07@b\x9b.example' }), /[\x07\x9b\x1b\r]/);
});

test('ages and the footer read like mailq', () => {
  assert.deepEqual([formatAge(59), formatAge(60), formatAge(3599), formatAge(3600), formatAge(86_400 * 3)], ['59s', '1m', '59m', '1h', '3d']);
  assert.equal(formatListFooter(0, 0), 'Mail queue is empty');
  assert.equal(formatListFooter(1, 100), '-- 1 Kbytes in 1 Request.');
  assert.equal(formatListFooter(3, 5000), '-- 5 Kbytes in 3 Requests.');
});
