import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { startRelay, type Harness } from '../helpers/relay-harness.ts';
import { startMxServer, type MxServer } from '../helpers/mx-server.ts';
import { existsSync } from 'node:fs';
import { runCli, startRelayProcess, writeConfig } from '../helpers/relay-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

async function relay(sink: MxServer): Promise<Harness> {
  const dir = await tempDir();
  return startRelay({
    dir,
    config: {
      trustedNetworks: ['127.0.0.0/8'],
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
      queue: { dir: join(dir, 'spool'), retrySchedule: ['1h'] },
      admin: {},
    },
  });
}

async function submit(h: Harness, mail: Record<string, unknown>): Promise<string> {
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: h.port('plain'), ignoreTLS: true }).sendMail({
    from: 'app@example.com',
    subject: 'for the queue command',
    text: 'hello',
    ...mail,
  });
  return /queued as (\w+)/.exec(info.response)![1]!;
}

async function deferredSink(): Promise<MxServer> {
  return startMxServer('127.0.0.1', 0, { onRcpt: (a) => (a.startsWith('defer') ? { code: 451, text: '4.7.1 greylisted' } : undefined) });
}

async function queued(h: Harness, ...mails: Array<Record<string, unknown>>): Promise<string[]> {
  const ids: string[] = [];
  for (const mail of mails) ids.push(await submit(h, mail));
  await waitFor('first attempts', () => ids.every((id) => (h.relay.spool.get(id)?.meta.attempts ?? 0) > 0 && !h.relay.spool.get(id)!.leased));
  return ids;
}

test('queue --help lists the commands and their Postfix equivalents; mail-relay --help names queue', async () => {
  const help = await runCli(['queue', '--help']);
  assert.equal(help.code, 0);
  for (const word of ['list', 'show', 'retry', 'hold', 'release', 'delete', 'bounce', '--all-matching', '--older-than', '--recipient-domain', '--socket', 'postsuper -h', 'mailq']) {
    assert.ok(help.stdout.includes(word), word);
  }
  const main = await runCli(['--help']);
  assert.match(main.stdout, /mail-relay queue list\|show\|retry\|hold\|release\|delete\|bounce/);
});

test('queue refuses bad usage with exit 2 before connecting, and a bad filter value with exit 2 from the relay', async () => {
  const h = await relay(await deferredSink());
  const socket = join(h.dir, 'spool', 'admin.sock');
  for (const [args, message] of [
    [['queue'], /a command is required/],
    [['queue', 'purge', '--socket', socket], /unknown queue command: purge/],
    [['queue', 'hold', '--socket', socket], /hold needs queue ids or --all-matching/],
    [['queue', 'hold', 'nope', '--socket', socket], /not a queue id: nope/],
    [['queue', 'list'], /--config FILE or --socket PATH is required/],
    [['queue', 'delete', '--all-matching', '--socket', socket], /--all-matching needs at least one filter/],
    [['queue', 'list', '--state', 'stuck', '--socket', socket], /state: must be one of ready, deferred, held/],
  ] as const) {
    const r = await runCli([...args]);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
  }
});

test('queue list prints a mailq-style listing, filters it, and prints JSON lines with --json', async () => {
  const h = await relay(await deferredSink());
  const [a, b] = await queued(h, { to: ['defer@example.net', 'ok@example.net'] }, { from: 'news@other.org', to: 'defer@example.org' });
  const list = await runCli(['queue', 'list', '--config', h.configPath]);
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.split('\n');
  assert.match(lines[0]!, /^-Queue ID-/);
  assert.match(list.stdout, new RegExp(`^${a} +\\d+ +\\d+s app@example\\.com\\n +defer@example\\.net  pending  451 4\\.7\\.1 greylisted\\n`, 'm'));
  assert.ok(!list.stdout.includes('ok@example.net'), 'delivered recipients are not listed, as in mailq');
  assert.match(list.stdout, /-- \d+ Kbytes in 2 Requests\.\n$/);

  const filtered = await runCli(['queue', 'list', '--config', h.configPath, '--recipient-domain', 'example.org', '--json']);
  assert.equal(filtered.code, 0, filtered.stderr);
  const rows = filtered.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; from: string; state: string });
  assert.deepEqual(rows.map((r) => [r.id, r.from, r.state]), [[b, 'news@other.org', 'deferred']]);

  const none = await runCli(['queue', 'list', '--config', h.configPath, '--older-than', '1d']);
  assert.match(none.stdout, /Mail queue is empty/);
});

test('queue show prints one message, --json its API view, --body the message itself', async () => {
  const h = await relay(await deferredSink());
  const [id] = await queued(h, { to: 'defer@example.net' });
  const shown = await runCli(['queue', 'show', id!, '--config', h.configPath]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`Queue ID: +${id}\\nState: +deferred\\n`));
  assert.match(shown.stdout, /Attempts: +1, next \d{4}-/);
  assert.match(shown.stdout, /Recipients:\n {2}defer@example\.net {2}pending {2}451 4\.7\.1 greylisted/);
  const json = await runCli(['queue', 'show', id!, '--config', h.configPath, '--json']);
  assert.equal((JSON.parse(json.stdout) as { attempts: number }).attempts, 1);
  const body = await runCli(['queue', 'show', id!, '--config', h.configPath, '--body']);
  assert.match(body.stdout, /Subject: for the queue command\r\n/);
  const missing = await runCli(['queue', 'show', '0000000000000000', '--config', h.configPath]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /0000000000000000: message 0000000000000000 is not in the queue/);
});

test('queue hold, release, retry, delete and bounce act on the running relay', async () => {
  const sink = await deferredSink();
  const h = await relay(sink);
  const [held, retried, deleted, bounced] = await queued(h, { to: 'defer@example.net' }, { to: 'defer-r@example.net' }, { to: 'defer-d@example.net' }, { to: 'defer-b@example.net' });

  const hold = await runCli(['queue', 'hold', held!, '--config', h.configPath]);
  assert.equal(hold.code, 0, hold.stderr);
  assert.equal(hold.stdout, `${held}: held\n`);
  assert.match((await runCli(['queue', 'list', '--config', h.configPath, '--state', 'held'])).stdout, new RegExp(`^${held}! `, 'm'));

  sink.behaviour = {}; // accept everything from now on
  const retry = await runCli(['queue', 'retry', retried!, held!, '--config', h.configPath]);
  assert.equal(retry.code, 1, 'one of the two is held');
  assert.equal(retry.stdout, `${retried}: due now\n`);
  assert.match(retry.stderr, new RegExp(`${held}: message ${held} is on hold; release it`));
  await waitFor('retried message delivered', () => sink.messages.some((m) => m.to.includes('defer-r@example.net')));

  const release = await runCli(['queue', 'release', '--all-matching', '--state', 'held', '--config', h.configPath]);
  assert.equal(release.code, 0, release.stderr);
  assert.equal(release.stdout, `released: 1 message\n  ${held}\n`);
  await waitFor('released message delivered', () => sink.messages.some((m) => m.to.includes('defer@example.net')));

  sink.behaviour = { onRcpt: () => ({ code: 451, text: '4.7.1 greylisted' }) };
  const del = await runCli(['queue', 'delete', deleted!, '--config', h.configPath]);
  assert.equal(del.stdout, `${deleted}: deleted\n`);
  assert.equal(h.relay.spool.get(deleted!), undefined);

  sink.behaviour = { onRcpt: (a) => (a === 'app@example.com' ? undefined : { code: 451, text: '4.7.1 greylisted' }) };
  const bounce = await runCli(['queue', 'bounce', bounced!, '--socket', join(h.dir, 'spool', 'admin.sock')]);
  assert.equal(bounce.stdout, `${bounced}: bounced (1 recipients)\n`);
  await waitFor('the DSN delivered to the sender', () => sink.messages.some((m) => m.from === '' && m.to[0] === 'app@example.com'));
  assert.match(sink.messages.find((m) => m.from === '')!.body.toString(), /Final-Recipient: rfc822; defer-b@example\.net/);
});

test('a mail-relay process serves the admin socket from relay.yaml and removes it on SIGTERM', { timeout: 60_000 }, async () => {
  const dir = await tempDir();
  const config = writeConfig(dir, {
    hostname: 'relay.test',
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0 }],
    trustedNetworks: ['127.0.0.0/8'],
    queue: { dir: join(dir, 'spool'), retrySchedule: ['1h'] },
    // nothing listens on port 1: the message stays deferred and nothing leaves loopback
    delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: 1, tls: 'none' } },
    metrics: { address: '127.0.0.1', port: 0 },
    admin: {},
  });
  const relayProcess = await startRelayProcess(config);
  const info = await nodemailer.createTransport({ host: '127.0.0.1', port: relayProcess.ports.plain!, ignoreTLS: true }).sendMail({
    from: 'app@example.com',
    to: 'someone@example.net',
    subject: 'x',
    text: 'y',
  });
  const id = /queued as (\w+)/.exec(info.response)![1]!;
  let listed = '';
  await waitFor('the message listed as deferred', async () => {
    listed = (await runCli(['queue', 'list', '--config', config, '--state', 'deferred'])).stdout;
    return listed.includes(id);
  });
  assert.match(listed, /someone@example\.net {2}pending {2}/);
  const socket = join(dir, 'spool', 'admin.sock');
  assert.ok(existsSync(socket));
  relayProcess.child.kill('SIGTERM');
  assert.equal(await relayProcess.exited, 0);
  assert.ok(!existsSync(socket), 'the socket file is removed on shutdown');
  const down = await runCli(['queue', 'list', '--config', config]);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach the admin socket .*admin\.sock \(ENOENT\): is the relay running, with admin in relay\.yaml\?/);
});
