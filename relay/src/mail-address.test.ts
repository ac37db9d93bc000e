import { test } from 'node:test';
import assert from 'node:assert/strict';
import addressparser from 'nodemailer/lib/addressparser';
import { headerFromDomain } from './mail-address.ts';

function parsed(value: string): string | undefined {
  const first = addressparser(value, { flatten: true })[0];
  const address = first && 'address' in first ? first.address : '';
  const at = address.lastIndexOf('@');
  return at === -1 ? undefined : address.slice(at + 1).toLowerCase() || undefined;
}

test('the From: domain is the one the full address parser finds, for simple and tricky headers', () => {
  const headers = [
    'app@Example.COM',
    ' App Name <app@mail.example.com> ',
    '<app@example.com>',
    'App <app@example.com',
    'app@example.com>',
    '"Doe, Jane" <jane@example.org>',
    'Jane (work) <jane@example.org>',
    'a@one.example, b@two.example',
    'Team: a@one.example, b@two.example;',
    '=?utf-8?Q?J=C3=BCrgen?= <j@example.de>',
    'Name <a@one.example> b@two.example',
    'first.last+tag@sub.example.net',
    'not an address',
    '@example.com',
  ];
  for (const h of headers) assert.equal(headerFromDomain(h), parsed(h), JSON.stringify(h));
  assert.equal(headerFromDomain(' App Name <app@Mail.Example.com> '), 'mail.example.com');
  assert.equal(headerFromDomain('"Doe, Jane" <jane@example.org>'), 'example.org');
  assert.equal(headerFromDomain(undefined), undefined);
});
