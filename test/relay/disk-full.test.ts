import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRelay } from '../helpers/relay-harness.ts';
import { RawSmtp } from '../helpers/raw-smtp.ts';
import { tempDir } from '../helpers/temp-dir.ts';

/**
 * A real full disk: a 3 MiB tmpfs mounted for the spool (the tests run as root, in CI too).
 * minFreeSpace is 0, so the relay meets ENOSPC on its own writes rather than refusing early.
 */
test('a full disk answers 452 4.3.1 and loses nothing that was acknowledged', async () => {
  const mount = mkdtempSync(join(tmpdir(), 'mail-relay-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mount]);
  after(() => {
    execFileSync('umount', ['-l', mount]);
    rmdirSync(mount);
  });
  const dir = await tempDir();
  const options = { dir, config: { trustedNetworks: ['127.0.0.0/8'], queue: { dir: join(mount, 'spool'), minFreeSpace: 0 } } };
  const h = await startRelay(options);
  // alternately ~200 KB (kept inline, written at commit) and ~600 KB (streamed to large/):
  // the disk fills on either write path, while free space still looks fine at MAIL FROM
  const bodies = [200, 600].map((lines) => `Subject: filler\r\n\r\n${`${'z'.repeat(998)}\r\n`.repeat(lines)}`);
  const stages: string[] = [];
  const acknowledged: string[] = [];
  let refusal = '';
  const c = await RawSmtp.connect(h.port('plain'));
  await c.command('EHLO client.test');
  for (let i = 0; i < 40 && !refusal; i++) {
    const mail = await c.command('MAIL FROM:<a@example.com>');
    if (!mail.startsWith('250')) {
      refusal = mail;
      break;
    }
    await c.command('RCPT TO:<b@example.net>');
    await c.command('DATA');
    c.write(bodies[i % 2]!);
    const reply = await c.command('.');
    const id = /queued as ([0-9A-Z]{16})/.exec(reply)?.[1];
    if (id) acknowledged.push(id);
    else {
      refusal = reply;
      stages.push('DATA');
    }
  }
  assert.match(refusal, /^452 4\.3\.1 Insufficient system storage/);
  assert.deepEqual(stages, ['DATA'], 'refused by a failed write, not by the free-space check');
  assert.ok(acknowledged.length >= 5, `${acknowledged.length} messages fit before the disk filled`);
  assert.match(await c.command('NOOP'), /^250/, 'the session and the process survive');
  c.close();

  const again = await h.restart();
  for (const id of acknowledged) {
    const entry = again.relay.spool.get(id);
    assert.ok(entry, `acknowledged ${id} survived`);
    assert.match((await again.relay.spool.readBody(entry)).toString('latin1'), /Subject: filler\r\n\r\nz{998}\r\n/);
  }
  assert.equal(again.relay.spool.size, acknowledged.length);
});
