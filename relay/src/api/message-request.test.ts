import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from '../errors.ts';
import { parseMessageRequest } from './message-request.ts';
import { parseRawRequest } from './raw-request.ts';
import { MAX_PROBLEMS, isBase64 } from './request-fields.ts';

const simple = { from: 'app@example.com', to: 'user@example.net', subject: 'Hi', text: 'Hello' };

function refusal(body: unknown, parse: (b: unknown) => unknown = parseMessageRequest): HttpError {
  try {
    parse(body);
  } catch (err) {
    assert.ok(err instanceof HttpError);
    return err;
  }
  assert.fail('the request was accepted');
}

function problems(err: HttpError): Array<{ field: string; message: string }> {
  return err.extra.problems as Array<{ field: string; message: string }>;
}

test('refuses trace and authentication headers with a 400 naming each', () => {
  const names = [
    'Authentication-Results', 'ARC-Seal', 'ARC-Message-Signature', 'arc-authentication-results', 'Resent-From', 'Resent-Message-ID',
    'Received', 'Return-Path', 'DKIM-Signature', 'X-Original-To', 'Delivered-To', 'Received-SPF',
  ];
  const err = refusal({ ...simple, headers: Object.fromEntries(names.map((n) => [n, 'x'])) });
  assert.equal(err.status, 400);
  assert.deepEqual(
    problems(err).map((p) => [p.field, p.message]),
    names.map((n) => [`headers.${n}`, 'is a trace or authentication header, which only mail servers write']),
  );
  // ordinary custom headers still pass
  assert.deepEqual(parseMessageRequest({ ...simple, headers: { 'X-Campaign': 'spring', 'List-Unsubscribe': '<mailto:u@example.com>' } }).headers, [
    ['X-Campaign', 'spring'],
    ['List-Unsubscribe', '<mailto:u@example.com>'],
  ]);
});

test('validates multi-megabyte base64 attachments without a stack overflow', () => {
  const content = Buffer.alloc(6 * 2 ** 20, 7);
  const folded = content.toString('base64').replace(/.{76}/g, '$&\r\n');
  const req = parseMessageRequest({ ...simple, attachments: [{ filename: 'big.bin', content: folded }] });
  assert.ok(req.attachments[0]!.content.equals(content));
  const raw = parseRawRequest({ from: 'app@example.com', to: ['user@example.net'], messageBase64: Buffer.alloc(5 * 2 ** 20, 0x41).toString('base64') });
  assert.equal(raw.message.length, 5 * 2 ** 20);
  const bad = refusal({ ...simple, attachments: [{ filename: 'big.bin', content: `${folded}!` }] });
  assert.deepEqual(problems(bad), [{ field: 'attachments[0].content', message: 'must be valid base64' }]);
});

test('base64 is checked for its alphabet, padding and length', () => {
  for (const ok of ['', 'QQ==', 'QUI=', 'QUJD', 'QUJD\r\nRA==', 'QU\nJD']) assert.equal(isBase64(ok), true, JSON.stringify(ok));
  for (const bad of ['Q', 'QQ=', 'QQ===', 'Q===', 'QQ==QQ==', 'QU=D', 'QUJ-', 'QUJD ', '====']) assert.equal(isBase64(bad), false, JSON.stringify(bad));
});

test('a 400 lists the first problems and counts the rest, and never echoes a huge field name', () => {
  const to = Array.from({ length: 200_000 }, (_, i) => `not-an-address-${i}`);
  const err = refusal({ ...simple, to, headers: { [`X-${'a'.repeat(1_000_000)} `]: 'x' } });
  assert.equal(problems(err).length, MAX_PROBLEMS);
  assert.equal(err.message, `the request has 200001 invalid field(s) (the first ${MAX_PROBLEMS} listed)`);
  assert.deepEqual(problems(err).slice(0, 2).map((p) => p.field), ['to[0]', 'to[1]']);
  assert.ok(JSON.stringify(err.extra).length < 4096, 'the answer stays small');
  const named = refusal({ ...simple, headers: { [`X-${'a'.repeat(1_000_000)} `]: 'x' } });
  assert.ok(problems(named)[0]!.field.length <= 'headers.'.length + 100 + 3, 'the field name is cut');
});
