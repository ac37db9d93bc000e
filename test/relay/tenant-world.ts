import { after } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { dkimVerify } from 'mailauth';
import { startRelay, type Harness } from '../helpers/relay-harness.ts';
import { startMxServer, type MxServer } from '../helpers/mx-server.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { buildDkimDnsRecord } from '../../relay/src/dkim/dkim-signer.ts';

export const ALICE = { username: 'alice', password: 'alice password, long enough', allowedSenderDomains: ['example.test'] };
export const TOKEN = 'app-alice-secret-token-0001';

export interface World {
  h: Harness;
  sink: MxServer;
  dns: DnsServer;
}

/**
 * Two tenants on one relay: example.test (alice, token app-alice) and other.test, each with
 * its DKIM key published in a loopback DNS server. Delivery goes to a real SMTP sink, where
 * every message is checked with mailauth.
 */
export async function world(): Promise<World> {
  const dir = await tempDir();
  const dns = await startDnsServer();
  after(() => dns.close());
  const domains = [];
  for (const name of ['example.test', 'other.test']) {
    const key = generateKeyPairSync('ed25519');
    const keyFile = join(dir, `${name}.key`);
    writeFileSync(keyFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    dns.set(`mr1._domainkey.${name}`, { txt: [[buildDkimDnsRecord(key.publicKey)]] });
    domains.push({ name, dkim: { selector: 'mr1', privateKeyFile: keyFile, algorithm: 'ed25519-sha256' } });
  }
  const sink = await startMxServer('127.0.0.1', 0);
  const h = await startRelay({
    dir,
    users: [ALICE],
    tokens: [{ name: 'app-alice', token: TOKEN, allowedSenderDomains: ['example.test'] }],
    config: {
      listeners: [
        // like the operator's in-cluster listener: not a submission (RFC 6409) port
        { name: 'plain', address: '127.0.0.1', port: 0, tls: 'none', auth: 'none', submission: false },
        { name: 'submission', address: '127.0.0.1', port: 0, tls: 'starttls', auth: 'required' },
      ],
      trustedNetworks: ['127.0.0.0/8'],
      domains,
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: sink.port, tls: 'none' } },
    },
  });
  return { h, sink, dns };
}

/** The DKIM results of every message the sink got: signing domain and verdict. */
export async function signatures(w: World): Promise<Array<{ subject: string; domain: string; result: string }>> {
  const resolver = new Resolver();
  resolver.setServers([w.dns.server]);
  const out = [];
  for (const m of w.sink.messages) {
    const subject = /^Subject: (.*)$/m.exec(m.body.toString('latin1'))?.[1]?.trim() ?? '';
    const verified = await dkimVerify(m.body, { resolver: (name: string, type: string) => resolver.resolve(name, type as 'TXT') });
    for (const r of verified.results) out.push({ subject, domain: String(r.signingDomain), result: String(r.status.result) });
  }
  return out;
}
