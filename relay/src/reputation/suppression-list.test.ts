import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SuppressionList } from './suppression-list.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';

const T0 = Date.UTC(2026, 10, 28);

function entry(recipient: string, since: number, days = 30) {
  return { domain: 'example.com', recipient, reason: 'hard_bounce' as const, detail: '550 5.1.1', since, expiresAt: since + days * 86_400_000 };
}

test('suppressions are per domain, case-insensitive, persisted, and expire', async () => {
  const dir = await tempDir();
  const list = await SuppressionList.open(dir, T0);
  await list.add(entry('Gone@Example.net', T0));
  await list.add({ ...entry('short@example.net', T0, 1), reason: 'complaint' });
  assert.ok(list.get('example.com', 'gone@example.net', T0));
  assert.equal(list.get('example.org', 'gone@example.net', T0), undefined);
  await list.close();

  const reopened = await SuppressionList.open(dir, T0 + 2 * 86_400_000);
  assert.equal(reopened.get('example.com', 'GONE@example.net', T0 + 2 * 86_400_000)?.reason, 'hard_bounce');
  assert.equal(reopened.get('example.com', 'short@example.net', T0 + 2 * 86_400_000), undefined, 'expired after a day');
  assert.equal(reopened.get('example.com', 'gone@example.net', T0 + 31 * 86_400_000), undefined);
  assert.equal(await reopened.remove('example.com', 'gone@example.net', T0), true);
  assert.equal(await reopened.remove('example.com', 'gone@example.net', T0), false);
  await reopened.close();
  const again = await SuppressionList.open(dir, T0);
  assert.deepEqual(
    again.list('example.com', T0).map((s) => s.recipient),
    ['short@example.net'],
    'the removal was persisted',
  );
  await again.close();
});

test('a torn last line is ignored and the log is compacted when mostly dead', async () => {
  const dir = await tempDir();
  const list = await SuppressionList.open(dir, T0);
  for (let i = 0; i < 150; i++) {
    await list.add(entry(`u${i}@example.net`, T0));
    await list.remove('example.com', `u${i}@example.net`, T0);
  }
  await list.add(entry('kept@example.net', T0));
  await list.close();
  const file = join(dir, 'suppressions.log');
  appendFileSync(file, '{"op":"add","domain":"example.com","recip');
  assert.equal(readFileSync(file, 'utf8').split('\n').length, 302);
  const reopened = await SuppressionList.open(dir, T0);
  assert.deepEqual(
    reopened.list('example.com', T0).map((s) => s.recipient),
    ['kept@example.net'],
  );
  assert.equal(readFileSync(file, 'utf8'), `${JSON.stringify({ op: 'add', ...entry('kept@example.net', T0) })}\n`, 'compacted to the live entry');
  await reopened.add(entry('new@example.net', T0));
  await reopened.close();
  const third = await SuppressionList.open(dir, T0);
  assert.equal(third.list('example.com', T0).length, 2);
  await third.close();
});

test('a running list drops expired entries and compacts its log without losing later appends', async () => {
  const dir = await tempDir();
  const file = join(dir, 'suppressions.log');
  const list = await SuppressionList.open(dir, T0);
  for (let i = 0; i < 120; i++) await list.add(entry(`old${i}@example.net`, T0, 1));
  await list.add(entry('kept@example.net', T0));
  await list.maintain(T0);
  assert.equal(readFileSync(file, 'utf8').split('\n').length, 122, 'nothing dead yet: no rewrite');
  await list.maintain(T0 + 2 * 86_400_000);
  assert.equal(readFileSync(file, 'utf8').split('\n').length, 2, 'rewritten to the one live entry');
  await list.add(entry('after@example.net', T0 + 2 * 86_400_000));
  await list.close();
  const reopened = await SuppressionList.open(dir, T0 + 2 * 86_400_000);
  assert.deepEqual(
    reopened.list('example.com', T0 + 2 * 86_400_000).map((s) => s.recipient),
    ['kept@example.net', 'after@example.net'],
  );
  await reopened.close();
});

test('a category suppression (an unsubscribe) covers that category only, and survives a restart', async () => {
  const dir = await tempDir();
  const list = await SuppressionList.open(dir, T0);
  await list.add({ ...entry('reader@example.net', T0, 3650), reason: 'unsubscribe', category: 'newsletter' });
  assert.equal(list.get('example.com', 'reader@example.net', T0, 'newsletter')?.reason, 'unsubscribe');
  assert.equal(list.get('example.com', 'reader@example.net', T0, 'password-reset'), undefined, 'other categories still reach the reader');
  assert.equal(list.get('example.com', 'reader@example.net', T0), undefined, 'mail without a category too');
  await list.add(entry('reader@example.net', T0));
  assert.equal(list.get('example.com', 'reader@example.net', T0, 'password-reset')?.reason, 'hard_bounce', 'a domain-wide suppression covers every category');
  assert.equal(await list.remove('example.com', 'reader@example.net', T0), true);
  await list.close();
  const reopened = await SuppressionList.open(dir, T0);
  assert.equal(reopened.get('example.com', 'reader@example.net', T0, 'newsletter')?.category, 'newsletter');
  assert.equal(reopened.get('example.com', 'reader@example.net', T0), undefined, 'the domain-wide removal left the category entry alone');
  assert.equal(await reopened.remove('example.com', 'reader@example.net', T0, 'newsletter'), true);
  await reopened.close();
  const third = await SuppressionList.open(dir, T0);
  assert.equal(third.get('example.com', 'reader@example.net', T0, 'newsletter'), undefined);
  await third.close();
});
