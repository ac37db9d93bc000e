import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/parse-config.ts';
import { SmtpReplyError } from '../errors.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { testLogger } from '../../../test/helpers/logger.ts';
import { gmailDsn } from '../../../test/helpers/feedback-reports.ts';
import { decideRecipient, FeedbackProcessor } from './feedback-processor.ts';
import { ReputationService } from './reputation-service.ts';

async function intake(limits: { perClientPerMinute: number; perDomainPerMinute: number }) {
  const dir = await mkdtemp(join(tmpdir(), 'mail-relay-'));
  const config = parseConfig({
    hostname: 'relay.example.com',
    listeners: [{ name: 'smtp', port: 0 }],
    queue: { dir: join(dir, 'spool') },
    domains: [{ name: 'example.com' }, { name: 'example.org' }],
    feedback: { verpDomain: 'bounces.example.com' },
  });
  const rep = await ReputationService.open({ config, metrics: createMetrics(), logger: testLogger });
  after(async () => {
    await rep.close();
    await rm(dir, { recursive: true, force: true });
  });
  const processor = new FeedbackProcessor(config.feedback, rep, () => ['example.com', 'example.org'], createMetrics(), testLogger, limits);
  /** A recipient the relay sends to, and a DSN for it sent to its VERP address. */
  const bounceFor = (queueId: string, domain: string, recipient: string) => {
    const verp = rep.returnPath(queueId, 0, domain, recipient)!;
    return (client: string) => processor.consume(Buffer.from(gmailDsn({ to: verp, recipient })), [verp], { remoteAddress: client });
  };
  return { rep, bounceFor };
}

function rateLimited(err: unknown): boolean {
  assert.ok(err instanceof SmtpReplyError);
  assert.equal(`${err.responseCode} ${err.message}`, '451 4.7.1 Too many reports for this domain, try again later');
  return true;
}

test('reports attributed to one sending domain are limited per domain, whatever the client address', async () => {
  const { rep, bounceFor } = await intake({ perClientPerMinute: 100, perDomainPerMinute: 2 });
  await bounceFor('0mx0ocs85001oma1', 'example.com', 'a@example.net')('192.0.2.1');
  await bounceFor('0mx0ocs85001oma2', 'example.com', 'b@example.net')('192.0.2.2');
  await assert.rejects(bounceFor('0mx0ocs85001oma3', 'example.com', 'c@example.net')('192.0.2.3'), rateLimited);
  await bounceFor('0mx0ocs85001oma4', 'example.org', 'd@example.net')('192.0.2.3');
  assert.equal(rep.report('example.com')!.windows['24h'].hardBounces, 2);
  assert.equal(rep.report('example.org')!.windows['24h'].hardBounces, 1);
  assert.equal(rep.isSuppressed('example.com', 'c@example.net'), false, 'a refused report changes nothing');
});

test('the recipient to suppress is the one the relay sent to, when the report names it or nobody', () => {
  assert.equal(decideRecipient('a@example.net', []), 'a@example.net');
  assert.equal(decideRecipient('a@example.net', ['x@example.net', 'a@example.net']), 'a@example.net');
  assert.equal(decideRecipient('a@example.net', ['victim@example.net']), undefined);
  assert.equal(decideRecipient(undefined, ['victim@example.net']), undefined);
});

test('reports from one IPv6 /64 share one client budget whatever address in it they come from, as for the SMTP limits; an IPv4-mapped address is its IPv4 client', async () => {
  const { rep, bounceFor } = await intake({ perClientPerMinute: 2, perDomainPerMinute: 100 });
  const refusedForClient = (err: unknown) => {
    assert.ok(err instanceof SmtpReplyError);
    assert.equal(`${err.responseCode} ${err.message}`, '451 4.7.1 Too many reports from your address, try again later');
    return true;
  };
  await bounceFor('0mx0ocs85001omb1', 'example.com', 'a@example.net')('2001:db8:1:2::1');
  await bounceFor('0mx0ocs85001omb2', 'example.com', 'b@example.net')('2001:db8:1:2::2');
  await assert.rejects(bounceFor('0mx0ocs85001omb3', 'example.com', 'c@example.net')('2001:db8:1:2:ffff::3'), refusedForClient);
  await bounceFor('0mx0ocs85001omb4', 'example.com', 'd@example.net')('2001:db8:1:3::1');
  await bounceFor('0mx0ocs85001omb5', 'example.com', 'e@example.net')('192.0.2.9');
  await bounceFor('0mx0ocs85001omb6', 'example.com', 'f@example.net')('192.0.2.9');
  await assert.rejects(bounceFor('0mx0ocs85001omb7', 'example.com', 'g@example.net')('::ffff:192.0.2.9'), refusedForClient);
  assert.equal(rep.report('example.com')!.windows['24h'].hardBounces, 5);
});
