import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../config/parse-config.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { Spool } from '../spool/spool.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { testLogger } from '../../../test/helpers/logger.ts';
import type { SubmissionEnvelope } from './envelope.ts';
import { SubmissionPipeline } from './submission-pipeline.ts';

async function setup(limits: Record<string, unknown> = {}) {
  const dir = await tempDir();
  const config = parseConfig({
    hostname: 'relay.test',
    listeners: [{ name: 'smtp', port: 0 }],
    domains: [{ name: 'example.test' }, { name: 'other.test' }],
    limits,
    queue: { dir: join(dir, 'spool') },
  });
  const spool = await Spool.open({ dir: config.queue.dir, logger: testLogger, inlineLimit: 1024 });
  return { spool, dir: config.queue.dir, pipeline: new SubmissionPipeline({ config, spool, metrics: createMetrics(), logger: testLogger }) };
}

const envelope: SubmissionEnvelope = {
  sender: 'alice@example.test',
  recipients: ['rcpt@example.net'],
  submitter: { kind: 'user', name: 'alice', allowedSenderDomains: ['example.test'] },
  listener: 'smtp',
  clientAddress: '127.0.0.1',
  protocol: 'ESMTPSA',
};

/** The message in chunks, counting how many were read. */
function counted(parts: string[]): { chunks: AsyncIterable<Buffer>; read: () => number } {
  let read = 0;
  return {
    chunks: (async function* () {
      for (const p of parts) {
        read++;
        yield Buffer.from(p, 'latin1');
      }
    })(),
    read: () => read,
  };
}

test('records the signing domain decided at acceptance with the message', async () => {
  const { spool, pipeline } = await setup();
  const outcome = await pipeline.submit(envelope, () => counted(['From: Alice <alice@news.example.test>\r\n\r\nhi\r\n']).chunks);
  assert.ok(outcome.accepted);
  const meta = spool.get(outcome.id)!.meta;
  assert.equal(meta.signingDomain, 'example.test');
  assert.equal(meta.headerFromDomain, 'news.example.test');
  assert.equal(meta.sendingDomain, 'example.test');
  assert.deepEqual(meta.origin, { listener: 'smtp', clientAddress: '127.0.0.1', user: 'alice' });
  await spool.close();
});

test('a message refused at its header is still read to its end, and nothing of it is kept', async () => {
  const { spool, dir, pipeline } = await setup();
  const body = Array.from({ length: 50 }, () => 'x'.repeat(200) + '\r\n');
  const source = counted(['From: ceo@other.test\r\nSubject: pay\r\n', '\r\n', ...body]);
  const outcome = await pipeline.submit(envelope, () => source.chunks);
  assert.deepEqual(outcome, { accepted: false, refusal: { reason: 'header_sender_domain', text: 'From: domain other.test is not one this sender may use' } });
  assert.equal(source.read(), 52, 'every chunk was read (the SMTP client is still sending)');
  assert.equal(spool.size, 0);
  assert.deepEqual(readdirSync(join(dir, 'large')), [], 'no spilled body left behind');
  await spool.close();
});

test('a message over maxMessageSize is refused once the limit is passed, and nothing is kept', async () => {
  const { spool, dir, pipeline } = await setup({ maxMessageSize: 4096 });
  const source = counted(['From: alice@example.test\r\n\r\n', ...Array.from({ length: 40 }, () => 'y'.repeat(510) + '\r\n')]);
  const outcome = await pipeline.submit(envelope, () => source.chunks);
  assert.equal(outcome.accepted ? 'accepted' : outcome.refusal.reason, 'message_too_big');
  assert.equal(source.read(), 41);
  assert.equal(spool.size, 0);
  assert.deepEqual(readdirSync(join(dir, 'large')), []);
  await spool.close();
});

test('a MAIL FROM outside the submitter allowance is refused before anything is stored', async () => {
  const { spool, pipeline } = await setup();
  const outcome = await pipeline.submit({ ...envelope, sender: 'alice@other.test' }, () => counted(['From: alice@example.test\r\n\r\nx\r\n']).chunks);
  assert.deepEqual(outcome, { accepted: false, refusal: { reason: 'sender_domain', text: 'User may not send as other.test' } });
  assert.equal(spool.size, 0);
  await spool.close();
});

test('labels come from the API fields or the header fields, are stored with the message, and the header fields are not', async () => {
  const { spool, pipeline } = await setup();
  const labels = { category: 'newsletter', tags: ['spring'], metadata: { campaign: 'c-1' } };
  const byHeader = await pipeline.submit(envelope, () =>
    counted(['From: alice@example.test\r\nX-Mail-Relay-Category: newsletter\r\nX-Mail-Relay-Tags: spring\r\nX-Mail-Relay-Metadata: {"campaign": "c-1"}\r\n\r\nhi\r\n']).chunks,
  );
  const byField = await pipeline.submit({ ...envelope, labels }, () => counted(['From: alice@example.test\r\n\r\nhi\r\n']).chunks);
  assert.ok(byHeader.accepted && byField.accepted);
  for (const id of [byHeader.id, byField.id]) {
    const entry = spool.get(id)!;
    assert.deepEqual({ category: entry.meta.category, tags: entry.meta.tags, metadata: entry.meta.metadata }, labels);
    assert.doesNotMatch((await spool.readBody(entry)).toString('latin1'), /X-Mail-Relay/i);
  }
  const bad = await pipeline.submit({ ...envelope, labels: { category: 'Not Valid' } }, () => counted(['From: alice@example.test\r\n\r\nhi\r\n']).chunks);
  assert.ok(!bad.accepted);
  assert.equal(bad.refusal.reason, 'invalid_labels');
  assert.deepEqual(bad.refusal.problems?.map((p) => p.field), ['category']);
  await spool.close();
});

test('a paused category is refused like a paused domain; the same domain\'s other categories are taken', async () => {
  const dir = await tempDir();
  const config = parseConfig({
    hostname: 'relay.test',
    listeners: [{ name: 'smtp', port: 0 }],
    domains: [{ name: 'example.test', categories: ['newsletter', 'transactional'] }],
    queue: { dir: join(dir, 'spool') },
  });
  const spool = await Spool.open({ dir: config.queue.dir, logger: testLogger });
  const gate = {
    pausedReason: () => undefined,
    isSuppressed: () => false,
    categoryPausedReason: (_domain: string, category: string | undefined) => (category === 'newsletter' ? { category, reason: 'bounce rate 0.5 above 0.1' } : undefined),
  };
  const pipeline = new SubmissionPipeline({ config, spool, gate, metrics: createMetrics(), logger: testLogger });
  const send = (category: string) => pipeline.submit(envelope, () => counted([`From: alice@example.test\r\nX-Mail-Relay-Category: ${category}\r\n\r\nhi\r\n`]).chunks);
  const refused = await send('newsletter');
  assert.ok(!refused.accepted);
  assert.equal(refused.refusal.reason, 'category_paused');
  assert.equal(refused.refusal.text, 'Category newsletter of sending domain example.test is paused: bounce rate 0.5 above 0.1; try again later');
  assert.ok((await send('transactional')).accepted);
  assert.equal(spool.size, 1, 'nothing of the refused message was kept');
  await spool.close();
});
