import { test } from 'node:test';
import assert from 'node:assert/strict';
import MimeNode from 'nodemailer/lib/mime-node';
import { pick, randomText, seededRandom } from '../../../test/helpers/random-text.ts';
import { encodeAddresses, encodeDate, encodeMessageId, encodeSubject } from './header-encoding.ts';

const PIECES = ['a', 'Z', '9', '_', ' ', '\t', '"', ',', '=?', '?=', '?Q?', '.', '\\', "'", '<', '>', '(', ')', ';', ':', '@', '[', ']', '~', 'ü', '😀'];
const LOCAL = ['a', 'B', '9', '.', '+', '_', '-', '!', '%', '"', '(', ',', '<', '[', '\\'];
const DOMAIN = ['example.com', 'EXAMPLE.net', 'mail.example.org', 'Mail.example.org', 'a-b.example', '-a.example', 'a--b.example', 'xn--bcher-kva.example', 'x.123', '1.2.3.4', '1.2.3', '0x1f.0x2', 'x.0x1f', '[192.0.2.1]', 'bücher.example'];

test('the header shortcuts give what MimeNode#encodeHeaderValue gives', () => {
  // a fresh node, not the writer's own reference node
  const node = new MimeNode();
  let bare = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const next = seededRandom(seed);
    const ascii = next() < 0.8;
    const text = (max: number) => randomText(next, max, ascii ? PIECES.filter((p) => /^[\x20-\x7e]*$/.test(p)) : PIECES);
    const list = Array.from({ length: 1 + Math.floor(next() * 3) }, () => ({
      name: next() < 0.5 ? '' : text(4),
      address: `${randomText(next, 4, LOCAL) || 'u'}@${pick(next, DOMAIN)}`,
    }));
    const encoded = encodeAddresses('To', list);
    if (encoded === list.map((a) => a.address).join(', ')) bare++;
    assert.equal(encoded, node.encodeHeaderValue('To', list.map((a) => ({ ...a }))), `addresses, seed ${seed}`);
    const subject = text(10);
    assert.equal(encodeSubject(subject), node.encodeHeaderValue('Subject', subject), `subject, seed ${seed}`);
    const id = next() < 0.5 ? `<${text(5)}>` : text(5);
    assert.equal(encodeMessageId(id), node.encodeHeaderValue('Message-ID', id), `message id, seed ${seed}`);
  }
  // the random addresses exercise the shortcut as well as encodeHeaderValue itself
  assert.ok(bare > 100, `some address lists go out bare (${bare})`);
  const date = new Date('2026-02-03T04:05:06Z');
  assert.equal(encodeDate(date), node.encodeHeaderValue('Date', date));
  assert.equal(encodeDate('Tue, 1 Dec 2026 08:00:00 +0100'), node.encodeHeaderValue('Date', 'Tue, 1 Dec 2026 08:00:00 +0100'));
});
