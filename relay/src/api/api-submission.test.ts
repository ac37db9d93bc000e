import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseConfig } from '../config/parse-config.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { Spool } from '../spool/spool.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { testLogger } from '../../../test/helpers/logger.ts';
import { HttpError } from '../errors.ts';
import { ApiSubmission, type Submission } from './api-submission.ts';
import type { SendGate } from '../reputation/send-gate.ts';

// The suppression list is another module (wired in relay.ts at merge); this gate stands in
// for its answers through the SendGate interface the API depends on.
class ListGate implements SendGate {
  constructor(private readonly suppressed: readonly string[]) {}
  pausedReason(): string | undefined {
    return undefined;
  }
  isSuppressed(_domain: string, recipient: string): boolean {
    return this.suppressed.includes(recipient);
  }
  categoryPausedReason(): undefined {
    return undefined;
  }
}

async function setup(suppressed: string[]) {
  const dir = await tempDir();
  const config = parseConfig({ hostname: 'relay.test', listeners: [{ name: 'smtp', port: 0 }], domains: [{ name: 'example.com' }], queue: { dir: join(dir, 'spool') } });
  const spool = await Spool.open({ dir: config.queue.dir, logger: testLogger });
  const submission = new ApiSubmission({ config, spool, gate: new ListGate(suppressed), metrics: createMetrics(), logger: testLogger });
  return { spool, submission };
}

const input = (recipients: string[]): Submission => ({
  client: { name: 'app1', allowedSenderDomains: [] },
  remoteAddress: '127.0.0.1',
  from: 'app@example.com',
  recipients,
  message: async () => Buffer.from('From: app@example.com\r\nSubject: x\r\n\r\nbody\r\n'),
});

test('suppressed recipients are left out and reported; the rest are queued', async () => {
  const { spool, submission } = await setup(['gone@example.net']);
  const accepted = await submission.submit(input(['ok@example.net', 'gone@example.net']));
  assert.deepEqual(accepted.rejected, [{ recipient: 'gone@example.net', reason: 'suppressed' }]);
  assert.deepEqual(spool.get(accepted.id)!.meta.recipients.map((r) => r.address), ['ok@example.net']);
  await spool.close();
});

test('when every recipient is suppressed nothing is queued and the answer is 400 listing them', async () => {
  const { spool, submission } = await setup(['gone@example.net', 'left@example.net']);
  await assert.rejects(submission.submit(input(['gone@example.net', 'left@example.net'])), (err: unknown) => {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 400);
    assert.equal(err.error, 'all_recipients_rejected');
    assert.deepEqual(err.extra.body, {
      rejected: [
        { recipient: 'gone@example.net', reason: 'suppressed' },
        { recipient: 'left@example.net', reason: 'suppressed' },
      ],
    });
    return true;
  });
  assert.equal(spool.size, 0);
  await spool.close();
});
