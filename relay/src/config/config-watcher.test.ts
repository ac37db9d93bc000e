import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import { parse, stringify } from 'yaml';
import { startRelay, type Harness } from '../../../test/helpers/relay-harness.ts';
import { scrapeSum } from '../../../test/helpers/scrape.ts';
import { tempDir } from '../../../test/helpers/temp-dir.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';

const FAILURES = /^mailrelay_config_reload_failures_total /;
const LAST_OK = /^mailrelay_config_last_reload_success /;

const metric = (h: Harness, line: RegExp) => scrapeSum(h.metricsUrl, line);

function send(h: Harness, from = 'app@example.com') {
  return nodemailer.createTransport({ host: '127.0.0.1', port: h.port('plain'), secure: false, ignoreTLS: true }).sendMail({ from, to: 'user@example.net', subject: 'hi', text: 'hello' });
}

test('keeps serving its last good config when relay.yaml becomes invalid, counts the refused reload, and applies the next valid one', async () => {
  const h = await startRelay({ config: { trustedNetworks: ['127.0.0.0/8'], domains: [{ name: 'example.com' }] } });
  const good = parse(readFileSync(h.configPath, 'utf8')) as { domains: { name: string; paused?: boolean }[] };
  assert.equal(await metric(h, LAST_OK), 1);
  writeFileSync(h.configPath, stringify({ ...good, listeners: 'nope', unknownKey: true }));
  await waitFor('the refused reload counted', async () => (await metric(h, FAILURES)) === 1);
  assert.equal(await metric(h, LAST_OK), 0);
  const info = await send(h);
  assert.match(info.response, /^250 /, 'mail still flows on the last good config');

  good.domains[0]!.paused = true;
  writeFileSync(h.configPath, stringify(good));
  await waitFor('the valid reload', async () => (await metric(h, LAST_OK)) === 1);
  await assert.rejects(send(h), /451.*4\.7\.1/, 'the paused flag of the valid config is applied');
  assert.equal(await metric(h, FAILURES), 1);
});

test('notices a users file or DKIM key that became invalid although relay.yaml did not change, and recovers when it is fixed', async () => {
  const keyDir = await tempDir();
  const keyFile = join(keyDir, 'example.com.key');
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileSync(keyFile, pem);
  const h = await startRelay({
    users: [{ username: 'app1', password: 'correct horse battery staple' }],
    config: { trustedNetworks: ['127.0.0.0/8'], domains: [{ name: 'example.com', dkim: { selector: 's1', privateKeyFile: keyFile, algorithm: 'ed25519-sha256' } }] },
  });
  const usersFile = join(h.dir, 'users.yaml');
  const users = readFileSync(usersFile, 'utf8');

  writeFileSync(usersFile, '- { username: app1, passwordHash: plaintext }\n');
  await waitFor('the invalid users file counted', async () => (await metric(h, FAILURES)) === 1);
  assert.equal(await metric(h, LAST_OK), 0);
  writeFileSync(usersFile, users);
  await waitFor('valid again', async () => (await metric(h, LAST_OK)) === 1);

  writeFileSync(keyFile, 'not a key\n');
  await waitFor('the invalid DKIM key counted', async () => (await metric(h, FAILURES)) === 2);
  assert.equal(await metric(h, LAST_OK), 0);
  assert.match((await send(h)).response, /^250 /, 'mail still flows, signed with the key loaded at start-up');
  writeFileSync(keyFile, pem);
  await waitFor('valid again', async () => (await metric(h, LAST_OK)) === 1);
});
