import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../relay/src/config/parse-config.ts';
import { buildDnsRecords } from './dns-records.ts';
import { sampleDomain, sampleRelay } from './fixtures.ts';
import { buildRelayConfig } from './relay-config.ts';
import { buildDkimKeysSecret } from './relay-config-objects.ts';

describe('builders during a DKIM rotation', () => {
  it('lists the active, pending and retiring DKIM records with their state, and no state without rotation', () => {
    const key = () => generateKeyPairSync('ed25519').publicKey;
    const sd = sampleDomain('d', 'example.com');
    const records = buildDnsRecords(sd, { dkim: { selector: 'mr2027031', publicKey: key() }, rotation: { pending: { selector: 'mr2027061', publicKey: key() }, retiring: { selector: 'mail', publicKey: key() } } });
    assert.deepEqual(records.map((r) => [r.purpose, r.name, r.state]), [
      ['dkim', 'mr2027031._domainkey.example.com', 'Active'],
      ['dkim', 'mr2027061._domainkey.example.com', 'Pending'],
      ['dkim', 'mail._domainkey.example.com', 'Retiring'],
      ['spf', 'example.com', undefined],
      ['dmarc', '_dmarc.example.com', undefined],
    ]);
    assert.equal(new Set(records.slice(0, 3).map((r) => r.value)).size, 3);
    assert.equal(buildDnsRecords(sd, { dkim: { selector: 'mail', publicKey: key() } })[0]!.state, undefined);
  });

  it('keeps every key of every domain in one Secret, one file per domain and selector, the file relay.yaml names', () => {
    const secret = buildDkimKeysSecret(sampleRelay(), [
      { domain: 'news.example.com', selector: 'mail', pem: 'B' },
      { domain: 'example.com', selector: 'mr2027061', pem: 'C' },
      { domain: 'example.com', selector: 'mr2027031', pem: 'A' },
    ]);
    assert.equal(secret.metadata?.name, 'outbound-dkim');
    assert.equal(secret.metadata?.ownerReferences?.[0]?.kind, 'MailRelay');
    assert.deepEqual(Object.keys(secret.data!), ['example.com.mr2027031.key', 'example.com.mr2027061.key', 'news.example.com.mail.key']);
    assert.equal(Buffer.from(secret.data!['example.com.mr2027031.key']!, 'base64').toString(), 'A');
    const config = parseConfig(buildRelayConfig(sampleRelay(), { domains: [{ spec: sampleDomain('d', 'example.com').spec, dkim: { selector: 'mr2027031', algorithm: 'ed25519-sha256' } }] }));
    assert.equal(config.domains[0]!.dkim!.privateKeyFile, '/etc/mail-relay/dkim/example.com.mr2027031.key');
  });
});
