import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth';
import nodemailer from 'nodemailer';
import { parse, stringify } from 'yaml';
import { buildDkimDnsRecord } from '../../relay/src/dkim/dkim-signer.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { startMxServer } from '../helpers/mx-server.ts';
import { startRelay } from '../helpers/relay-harness.ts';
import { scrapeSum } from '../helpers/scrape.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { waitFor } from '../helpers/wait-for.ts';

const FAILURES = /^mailrelay_config_reload_failures_total /;
const LAST_OK = /^mailrelay_config_last_reload_success /;

function pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * What the operator does to a relay during a rotation, played on the files it mounts: the next
 * key's record is published, relay.yaml switches selector and key file (here before the key
 * file is there, the worst order the kubelet's separate ConfigMap and Secret updates can give),
 * and after the grace period the old record goes. The relay reloads without a restart.
 */
test('a DKIM rotation needs no restart: mail signed before, during and after the switch verifies with mailauth against the published records', async () => {
  const dir = await tempDir();
  const dns = await startDnsServer();
  const sink = await startMxServer('127.0.0.1', 0);
  const resolver = new Resolver();
  resolver.setServers([dns.server]);

  // rsa-sha256 first, ed25519-sha256 next: a rotation may change the algorithm
  const oldKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const newKey = generateKeyPairSync('ed25519');
  const oldFile = join(dir, 'example.test.mail.key');
  const newFile = join(dir, 'example.test.mr2026121.key');
  writeFileSync(oldFile, pem(oldKey.privateKey));
  dns.set('mail._domainkey.example.test', { txt: [[buildDkimDnsRecord(oldKey.publicKey)]] });

  const h = await startRelay({
    dir,
    config: {
      trustedNetworks: ['127.0.0.0/8'],
      domains: [{ name: 'example.test', dkim: { selector: 'mail', privateKeyFile: oldFile, algorithm: 'rsa-sha256' } }],
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
    },
  });
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: h.port('plain'), secure: false, ignoreTLS: true });
  const send = async (subject: string) => {
    const before = sink.messages.length;
    const info = await transport.sendMail({ from: 'app@example.test', to: 'user@example.net', subject, text: `${subject}\n` });
    assert.match(info.response, /^250 /);
    await waitFor(`${subject} delivered`, () => sink.messages.length > before);
  };
  const verdicts = async () => {
    const out: string[] = [];
    for (const m of sink.messages) {
      const subject = /^Subject: (.*)$/m.exec(m.body.toString('latin1'))?.[1]?.trim();
      const result = await dkimVerify(m.body, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') });
      const r = result.results[0];
      out.push(`${subject} s=${r?.selector} ${r?.status.result}`);
    }
    return out;
  };
  const metric = (line: RegExp) => scrapeSum(h.metricsUrl, line);

  await send('before');
  // pending: the next key's record is published; relay.yaml does not name the key yet
  dns.set('mr2026121._domainkey.example.test', { txt: [[buildDkimDnsRecord(newKey.publicKey)]] });
  await send('pending');

  // switched: relay.yaml names a key file that is not there yet; the relay keeps its keys...
  const config = parse(readFileSync(h.configPath, 'utf8')) as { domains: Array<{ dkim: Record<string, string> }> };
  config.domains[0]!.dkim = { selector: 'mr2026121', privateKeyFile: newFile, algorithm: 'ed25519-sha256' };
  writeFileSync(h.configPath, stringify(config));
  await waitFor('the reload refused for the missing key file', async () => (await metric(FAILURES)) === 1);
  await send('key file on its way');
  // ...and takes the new one as soon as the file appears
  writeFileSync(newFile, pem(newKey.privateKey));
  await waitFor('the reload with the new key', async () => (await metric(LAST_OK)) === 1);
  await send('switched');

  // grace: both records published, everything verifies
  assert.deepEqual(await verdicts(), ['before s=mail pass', 'pending s=mail pass', 'key file on its way s=mail pass', 'switched s=mr2026121 pass']);

  // retired: the old record and key file are gone; new mail still verifies, old mail no longer does
  dns.remove('mail._domainkey.example.test');
  rmSync(oldFile);
  await send('after');
  const after = await verdicts();
  assert.equal(after[4], 'after s=mr2026121 pass');
  assert.ok(after.slice(0, 3).every((v) => !v.endsWith(' pass')), `mail signed with the retired key no longer verifies: ${after.join('; ')}`);
  assert.equal(await metric(FAILURES), 1, 'removing a file relay.yaml no longer names is no reload failure');
  await dns.close();
  await sink.close();
});
