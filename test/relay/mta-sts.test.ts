import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import nodemailer from 'nodemailer';
import { startRelay, type Harness } from '../helpers/relay-harness.ts';
import { startMxServer, type MxServer } from '../helpers/mx-server.ts';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.ts';
import { makeCertificates, type TestCertificates } from '../helpers/certs.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { scrapeSum } from '../helpers/scrape.ts';
import { waitFor } from '../helpers/wait-for.ts';

/** How an MX host presents itself: a certificate of the test CA for its name, for another name, of another CA, or no STARTTLS. */
type MxTls = 'valid' | 'wrong-name' | 'untrusted' | 'none';

interface DomainSetup {
  readonly mx: ReadonlyArray<{ readonly host: string; readonly address: string; readonly tls: MxTls }>;
  /** The `_mta-sts` TXT id and the policy file served for it. */
  readonly policy?: { readonly id: string; readonly text: string };
}

interface PolicyAnswer {
  status: number;
  body: string;
}

interface StsWorld {
  readonly dir: string;
  readonly dns: DnsServer;
  h: Harness;
  readonly mx: Map<string, MxServer>;
  /** What the policy host answers per domain (mutable); fetches counted per domain. */
  readonly answers: Map<string, PolicyAnswer>;
  readonly fetches: Map<string, number>;
  /** Bodies POSTed to `https://rua.<domain>:<port>/tlsrpt` (TLS-RPT), with their content type. */
  readonly posted: Array<{ host: string; type: string; body: Buffer }>;
  /** The port of the HTTPS server that plays every policy host and rua. */
  readonly httpsPort: number;
  send(to: string): Promise<string>;
  metric(line: RegExp): Promise<number>;
}

const policy = (mode: string, mx: string[], maxAge = 86400) =>
  `version: STSv1\r\nmode: ${mode}\r\n${mx.map((m) => `mx: ${m}\r\n`).join('')}max_age: ${maxAge}\r\n`;

/**
 * A loopback internet with MTA-STS: the test DNS server holds each domain's MX, A, `_mta-sts`
 * TXT and `mta-sts.<domain>` records; one HTTPS server on 127.0.0.1 plays every policy host
 * (a certificate of the test CA for all their names); MX hosts on 127.0.0.x offer STARTTLS as
 * told; the relay resolves through the DNS server and trusts the test CA (delivery.mtaSts.caFile).
 */
async function stsWorld(domains: Record<string, DomainSetup>, options: { tlsRpt?: boolean } = {}): Promise<StsWorld> {
  const dir = await tempDir();
  const caDir = join(dir, 'ca');
  const otherCaDir = join(dir, 'other-ca');
  mkdirSync(caDir);
  mkdirSync(otherCaDir);
  const names = Object.keys(domains);
  const policyCerts = makeCertificates(caDir, 'policy-hosts', names.flatMap((d) => [`mta-sts.${d}`, `rua.${d}`]));
  const answers = new Map<string, PolicyAnswer>();
  const fetches = new Map<string, number>();
  const posted: StsWorld['posted'] = [];
  const https = createServer({ key: readFileSync(policyCerts.keyFile), cert: readFileSync(policyCerts.certFile) }, (req, res) => {
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posted.push({ host: (req.headers.host ?? '').replace(/:\d+$/, ''), type: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        res.writeHead(200).end();
      });
      return;
    }
    const domain = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^mta-sts\./, '');
    fetches.set(domain, (fetches.get(domain) ?? 0) + 1);
    const answer = req.url === '/.well-known/mta-sts.txt' ? answers.get(domain) : undefined;
    res.writeHead(answer?.status ?? 404, { 'content-type': 'text/plain' });
    res.end(answer?.body ?? 'not found');
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => https.close(() => resolve())));
  https.unref();
  const dns = await startDnsServer();
  after(() => dns.close());
  const mx = new Map<string, MxServer>();
  let port = 0;
  for (const [domain, setup] of Object.entries(domains)) {
    dns.set(domain, { mx: setup.mx.map((m, i) => ({ preference: 10 * (i + 1), exchange: m.host })) });
    dns.set(`mta-sts.${domain}`, { a: ['127.0.0.1'] });
    dns.set(`rua.${domain}`, { a: ['127.0.0.1'] });
    if (setup.policy) {
      dns.set(`_mta-sts.${domain}`, { txt: [[`v=STSv1; id=${setup.policy.id};`]] });
      answers.set(domain, { status: 200, body: setup.policy.text });
    }
    for (const m of setup.mx) {
      dns.set(m.host, { a: [m.address] });
      const certs: TestCertificates | undefined =
        m.tls === 'valid'
          ? makeCertificates(caDir, m.host, [m.host])
          : m.tls === 'wrong-name'
            ? makeCertificates(caDir, `wrong-${m.host}`, ['somebody-else.test'])
            : m.tls === 'untrusted'
              ? makeCertificates(otherCaDir, m.host, [m.host])
              : undefined;
      const server = await startMxServer(m.address, port, certs ? { tls: certs } : {});
      port = server.port;
      mx.set(m.host, server);
    }
  }
  const config = {
    trustedNetworks: ['127.0.0.0/8'],
    queue: { dir: join(dir, 'spool'), retrySchedule: ['1h'] },
    delivery: {
      mode: 'mx',
      resolvers: [dns.server],
      port,
      connectTimeout: '2s',
      commandTimeout: '2s',
      mtaSts: { caFile: policyCerts.caFile, port: (https.address() as AddressInfo).port, fetchTimeout: '2s' },
      ...(options.tlsRpt ? { tlsRpt: { organization: 'Relay Test Org', contact: 'tls-admin@sender.test' } } : {}),
    },
  };
  const world: StsWorld = {
    dir,
    dns,
    h: await startRelay({ dir, config }),
    mx,
    answers,
    fetches,
    posted,
    httpsPort: (https.address() as AddressInfo).port,
    async send(to) {
      const info = await nodemailer
        .createTransport({ host: '127.0.0.1', port: world.h.port('plain'), ignoreTLS: true })
        .sendMail({ from: 'app@sender.test', to, subject: 'hello', text: 'hello world' });
      return /queued as (\w+)/.exec(info.response)![1]!;
    },
    metric: (line) => scrapeSum(world.h.metricsUrl, line),
  };
  return world;
}

const result = (mode: string, value: string) => new RegExp(`^mailrelay_mta_sts_results_total\\{(?=.*mode="${mode}")(?=.*result="${value}")`);

/** Waits until the message's recipient was tried and deferred; returns its last reply. */
async function deferredReply(w: StsWorld, id: string): Promise<string> {
  let reply = '';
  await waitFor('a deferred attempt', () => {
    const entry = w.h.relay.spool.get(id);
    reply = entry?.meta.recipients[0]?.lastReply ?? '';
    return entry !== undefined && entry.meta.attempts > 0;
  });
  return reply;
}

test('enforce: mail goes to an MX host the policy names over verified TLS, counted as a success', async () => {
  const w = await stsWorld({
    'enforced.test': { mx: [{ host: 'mx.enforced.test', address: '127.0.0.2', tls: 'valid' }], policy: { id: 'v1', text: policy('enforce', ['mx.enforced.test']) } },
  });
  await w.send('user@enforced.test');
  const box = w.mx.get('mx.enforced.test')!;
  await waitFor('delivery', () => box.messages.length === 1);
  assert.equal(box.messages[0]!.secure, true);
  await waitFor('spool empty', () => w.h.relay.spool.size === 0);
  assert.equal(await w.metric(result('enforce', 'success')), 1);
  assert.equal(await w.metric(/^mailrelay_outbound_tls_deliveries_total\{(?=.*tls="verified")/), 1);
  assert.equal(w.fetches.get('enforced.test'), 1);
  // the policy is kept on disk under the queue dir for a restart
  assert.deepEqual(readdirSync(join(w.dir, 'spool', 'mta-sts')), ['enforced.test.json']);
});

test('enforce: a policy that names other MX hosts defers the mail with 4.7.5 and sends nothing', async () => {
  const w = await stsWorld({
    'moved.test': {
      mx: [{ host: 'mx.moved.test', address: '127.0.0.2', tls: 'valid' }],
      policy: { id: 'v1', text: policy('enforce', ['*.mail-provider.test']) },
    },
  });
  const id = await w.send('user@moved.test');
  assert.match(await deferredReply(w, id), /^451 4\.7\.5 MTA-STS policy of moved\.test allows none of its MX hosts/);
  assert.equal(w.mx.get('mx.moved.test')!.attempts.length, 0, 'no connection to a host the policy does not name');
  assert.equal(await w.metric(result('enforce', 'mx_mismatch')), 1);
});

test('enforce: only the MX hosts the policy names are tried, in MX order', async () => {
  const w = await stsWorld({
    'mixed.test': {
      mx: [
        { host: 'rogue.mixed.test', address: '127.0.0.2', tls: 'none' },
        { host: 'good.mixed.test', address: '127.0.0.3', tls: 'valid' },
      ],
      policy: { id: 'v1', text: policy('enforce', ['good.mixed.test']) },
    },
  });
  await w.send('user@mixed.test');
  await waitFor('delivery to the allowed host', () => w.mx.get('good.mixed.test')!.messages.length === 1);
  assert.equal(w.mx.get('rogue.mixed.test')!.attempts.length, 0);
});

test('enforce: an MX host without STARTTLS, or with a certificate for another name or of an unknown CA, defers and never gets the mail in clear', async () => {
  const w = await stsWorld({
    'plain.test': { mx: [{ host: 'mx.plain.test', address: '127.0.0.2', tls: 'none' }], policy: { id: 'a1', text: policy('enforce', ['mx.plain.test']) } },
    'misnamed.test': { mx: [{ host: 'mx.misnamed.test', address: '127.0.0.3', tls: 'wrong-name' }], policy: { id: 'a1', text: policy('enforce', ['mx.misnamed.test']) } },
    'selfmade.test': { mx: [{ host: 'mx.selfmade.test', address: '127.0.0.4', tls: 'untrusted' }], policy: { id: 'a1', text: policy('enforce', ['mx.selfmade.test']) } },
  });
  const cases: Array<[string, string]> = [
    ['plain.test', 'starttls_not_supported'],
    ['misnamed.test', 'certificate_host_mismatch'],
    ['selfmade.test', 'certificate_not_trusted'],
  ];
  for (const [domain, expected] of cases) {
    const id = await w.send(`user@${domain}`);
    const reply = await deferredReply(w, id);
    assert.match(reply, new RegExp(`^451 4\\.7\\.5 MTA-STS policy of ${domain.replace('.', '\\.')} requires TLS with a certificate valid for the MX host: ${expected.replace(/_/g, '-')}`), reply);
    const box = w.mx.get(`mx.${domain}`)!;
    assert.ok(box.attempts.length > 0, `${domain}: the host was contacted`);
    assert.equal(box.messages.length, 0, `${domain}: nothing delivered`);
    assert.equal(await w.metric(result('enforce', expected)), 1, `${domain}: ${expected}`);
  }
  assert.equal(await w.metric(/^mailrelay_messages_delivered_total/), 0);
});

test('testing: mail is delivered as usual, and the failures are counted', async () => {
  const w = await stsWorld({
    'trial.test': { mx: [{ host: 'mx.trial.test', address: '127.0.0.2', tls: 'none' }], policy: { id: 't1', text: policy('testing', ['mx.trial.test']) } },
    'trial2.test': { mx: [{ host: 'mx.trial2.test', address: '127.0.0.3', tls: 'valid' }], policy: { id: 't1', text: policy('testing', ['other.trial2.test']) } },
  });
  await w.send('user@trial.test');
  await w.send('user@trial2.test');
  await waitFor('both delivered', () => w.mx.get('mx.trial.test')!.messages.length === 1 && w.mx.get('mx.trial2.test')!.messages.length === 1);
  assert.equal(w.mx.get('mx.trial.test')!.messages[0]!.secure, false);
  await waitFor('spool empty', () => w.h.relay.spool.size === 0);
  assert.equal(await w.metric(result('testing', 'starttls_not_supported')), 1);
  assert.equal(await w.metric(result('testing', 'mx_mismatch')), 1);
  assert.equal(await w.metric(/^mailrelay_outbound_tls_deliveries_total\{(?=.*tls="none")/), 1);
});

test('mode none, or no policy at all: delivered as usual and not counted as MTA-STS', async () => {
  const w = await stsWorld({
    'withdrawn.test': { mx: [{ host: 'mx.withdrawn.test', address: '127.0.0.2', tls: 'none' }], policy: { id: 'n1', text: policy('none', []) } },
    'nopolicy.test': { mx: [{ host: 'mx.nopolicy.test', address: '127.0.0.3', tls: 'none' }] },
  });
  await w.send('user@withdrawn.test');
  await w.send('user@nopolicy.test');
  await waitFor('both delivered', () => w.mx.get('mx.withdrawn.test')!.messages.length === 1 && w.mx.get('mx.nopolicy.test')!.messages.length === 1);
  assert.equal(await w.metric(/^mailrelay_mta_sts_results_total/), 0);
  assert.equal(w.fetches.get('withdrawn.test'), 1);
  assert.equal(w.fetches.get('nopolicy.test'), undefined, 'no TXT record, no fetch');
});

test('an expired cached policy no longer applies: refetched under the same id, and when the host then fails mail flows as without a policy', async () => {
  const w = await stsWorld({
    'shortlived.test': { mx: [{ host: 'mx.shortlived.test', address: '127.0.0.2', tls: 'none' }], policy: { id: 's1', text: policy('enforce', ['mx.shortlived.test'], 1) } },
  });
  const first = await w.send('user@shortlived.test');
  await deferredReply(w, first);
  assert.equal(w.fetches.get('shortlived.test'), 1);
  assert.equal(w.mx.get('mx.shortlived.test')!.messages.length, 0);
  // max_age 1 s: once it has passed, the same TXT id does not keep the policy
  await new Promise((r) => setTimeout(r, 1100));
  w.answers.set('shortlived.test', { status: 500, body: 'down' });
  await w.send('user@shortlived.test');
  await waitFor('delivery without a policy', () => w.mx.get('mx.shortlived.test')!.messages.length === 1);
  assert.equal(w.fetches.get('shortlived.test'), 2);
  assert.equal(await w.metric(/^mailrelay_mta_sts_policy_failures_total\{reason="sts_policy_fetch_error"\}/), 1);
});

test('a cached policy survives a restart and is enforced while the policy host is down; a new TXT id refetches it', async () => {
  const w = await stsWorld({
    'durable.test': { mx: [{ host: 'mx.durable.test', address: '127.0.0.2', tls: 'none' }], policy: { id: 'd1', text: policy('enforce', ['mx.durable.test']) } },
  });
  const first = await w.send('user@durable.test');
  await deferredReply(w, first);
  w.h = await w.h.restart();
  w.answers.set('durable.test', { status: 503, body: 'maintenance' });
  const second = await w.send('user@durable.test');
  assert.match(await deferredReply(w, second), /^451 4\.7\.5 MTA-STS policy of durable\.test requires TLS .*: starttls-not-supported/);
  assert.equal(w.fetches.get('durable.test'), 1, 'the unexpired policy from disk needs no fetch');
  assert.equal(w.mx.get('mx.durable.test')!.messages.length, 0);
  // the domain publishes a testing policy under a new id: fetched at once, and mail flows
  w.answers.set('durable.test', { status: 200, body: policy('testing', ['mx.durable.test']) });
  w.dns.set('_mta-sts.durable.test', { txt: [['v=STSv1; id=d2;']] });
  w.h = await w.h.restart();
  await w.send('user@durable.test');
  await waitFor('delivery under the testing policy', () => w.mx.get('mx.durable.test')!.messages.length >= 1);
  assert.equal(w.fetches.get('durable.test'), 2);
});

test('TLS-RPT: a day of results is kept across a restart and reported once, gzipped JSON to the https rua and by mail to the mailto rua', async () => {
  const w = await stsWorld(
    {
      'reported.test': {
        mx: [
          { host: 'mx1.reported.test', address: '127.0.0.2', tls: 'valid' },
          { host: 'mx2.reported.test', address: '127.0.0.3', tls: 'none' },
        ],
        policy: { id: 'r1', text: policy('testing', ['*.reported.test']) },
      },
      'reports.test': { mx: [{ host: 'mx.reports.test', address: '127.0.0.4', tls: 'none' }] },
    },
    { tlsRpt: true },
  );
  w.dns.set('_smtp._tls.reported.test', { txt: [[`v=TLSRPTv1; rua=https://rua.reported.test:${w.httpsPort}/tlsrpt,mailto:tls-reports@reports.test`]] });
  // one session over verified TLS to mx1, then mx1 goes away and one in clear text to mx2
  await w.send('a@reported.test');
  await waitFor('first delivery', () => w.mx.get('mx1.reported.test')!.messages.length === 1);
  await waitFor('spool empty', () => w.h.relay.spool.size === 0);
  await w.mx.get('mx1.reported.test')!.close();
  w.h = await w.h.restart();
  await w.send('b@reported.test');
  await waitFor('second delivery', () => w.mx.get('mx2.reported.test')!.messages.length === 1);
  await waitFor('spool empty', () => w.h.relay.spool.size === 0);
  // results of the first relay life came through the restart from disk
  w.h = await w.h.restart();
  const tomorrow = Date.now() + 86_400_000;
  assert.deepEqual(await w.h.relay.delivery.sendTlsReports(tomorrow), { sent: 1, failed: 0 });

  assert.equal(w.posted.length, 1);
  const post = w.posted[0]!;
  assert.equal(post.host, 'rua.reported.test');
  assert.equal(post.type, 'application/tlsrpt+gzip');
  const report = JSON.parse(gunzipSync(post.body).toString('utf8')) as { policies: Array<Record<string, unknown>> } & Record<string, unknown>;
  const today = new Date().toISOString().slice(0, 10);
  assert.equal(report['organization-name'], 'Relay Test Org');
  assert.equal(report['contact-info'], 'tls-admin@sender.test');
  assert.deepEqual(report['date-range'], { 'start-datetime': `${today}T00:00:00Z`, 'end-datetime': `${today}T23:59:59Z` });
  const [entry] = report.policies;
  assert.deepEqual(entry!.policy, {
    'policy-type': 'sts',
    'policy-string': ['version: STSv1', 'mode: testing', 'mx: *.reported.test', 'max_age: 86400'],
    'policy-domain': 'reported.test',
    'mx-host': ['*.reported.test'],
  });
  assert.deepEqual(entry!.summary, { 'total-successful-session-count': 1, 'total-failure-session-count': 1 });
  assert.deepEqual(entry!['failure-details'], [{ 'result-type': 'starttls-not-supported', 'receiving-mx-hostname': 'mx2.reported.test', 'failed-session-count': 1 }]);

  const box = w.mx.get('mx.reports.test')!;
  await waitFor('the mailed report', () => box.messages.length === 1);
  const mail = box.messages[0]!;
  assert.equal(mail.from, '', 'reports come from the null sender');
  assert.deepEqual(mail.to, ['tls-reports@reports.test']);
  const text = mail.body.toString('latin1');
  assert.match(text, /^TLS-Report-Domain: reported\.test\r$/m);
  assert.match(text, /^TLS-Report-Submitter: relay\.test\r$/m);
  assert.match(text, /Content-Type: multipart\/report; report-type="tlsrpt"/);
  const attachment = /Content-Type: application\/tlsrpt\+gzip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="relay\.test!reported\.test!\d+!\d+\.json\.gz"\r\n\r\n([A-Za-z0-9+/=\r\n]+)\r\n--/.exec(text);
  assert.ok(attachment, 'a gzipped JSON attachment');
  assert.deepEqual(JSON.parse(gunzipSync(Buffer.from(attachment[1]!, 'base64')).toString('utf8')), report);

  // at most once a day per domain
  assert.deepEqual(await w.h.relay.delivery.sendTlsReports(tomorrow), { sent: 0, failed: 0 });
  assert.equal(w.posted.length, 1);
  assert.equal(await w.metric(/^mailrelay_tls_reports_total\{result="sent"\}/), 1);
});
