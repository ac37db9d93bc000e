import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headerFieldName, isFieldName } from './header-field-name.ts';

test('a field name is lower-cased without the spaces and tabs before its colon, and keeps blanks inside it', () => {
  for (const line of ['From: a@x.test', 'FROM \t : a@x.test', 'from\t: a@x.test']) assert.equal(headerFieldName(line, line.indexOf(':')), 'from');
  const inner = 'X Pad  Tail : v';
  assert.equal(headerFieldName(inner, inner.indexOf(':')), 'x pad  tail');
  assert.equal(headerFieldName(': v', 0), '');
  assert.equal(headerFieldName('From\xa0: v', 5), 'from\xa0', 'only SP and HTAB are blanks (0xA0 in latin1 is not)');
});

test('a field name is one or more printable ASCII characters: no blank, control or 8-bit character inside it', () => {
  for (const name of ['from', 'x-mailer', 'a!#$%&*+/=?^_`{|}~9']) assert.equal(isFieldName(name), true, name);
  for (const name of ['', 'from\v', 'from\f', 'from\xa0', 'x pad', 'fr\xf6m', 'x\x7f', 'from\u2028']) assert.equal(isFieldName(name), false, JSON.stringify(name));
});
