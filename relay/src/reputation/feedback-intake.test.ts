import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reputationWorld, type ReputationWorld } from '../../../test/helpers/reputation-world.ts';
import { waitFor } from '../../../test/helpers/wait-for.ts';
import { arfReport, gmailDsn, hostileReports, outlookDsn, postfixDelayDsn } from '../../../test/helpers/feedback-reports.ts';
import { createReputationHandlers } from './http-handlers.ts';

const FEEDBACK = { config: { feedback: { verpDomain: 'bounces.example.com', complaintAddress: 'fbl@example.com' } } };
const VERP = /^b-[0-9a-z]{16}-\d+-[0-9a-f]{12}-[0-9a-f]{12}@bounces\.example\.com$/;

function counts(w: ReputationWorld, domain: string) {
  return w.h.relay.reputation.report(domain)!.windows['24h'];
}

async function deliveredReturnPath(w: ReputationWorld, to: string): Promise<string> {
  await w.settled(await w.send({ to }));
  return w.mx.messages.find((m) => m.to.includes(to))!.from;
}

test('relayed mail gets a VERP return path per recipient; the null sender of DSNs is kept', async () => {
  const w = await reputationWorld({ ...FEEDBACK, mx: { onRcpt: (a) => (a.startsWith('bad') ? { code: 550, text: '5.1.1 no such user' } : undefined) } });
  await w.settled(await w.send({ to: ['a@example.net', 'b@example.net', 'bad@example.net'] }));
  await waitFor('the DSN to the sender', () => w.mx.messages.some((m) => m.from === ''));
  const relayed = w.mx.messages.filter((m) => m.from !== '');
  assert.equal(relayed.length, 2, 'one transaction per recipient');
  for (const m of relayed) assert.match(m.from, VERP);
  assert.notEqual(relayed[0]!.from, relayed[1]!.from);
  assert.deepEqual(w.mx.messages.find((m) => m.from === '')!.to, ['app@example.com'], 'our own DSN goes to the original sender, from <>');
});

test('a DSN sent to a VERP address counts a hard bounce for its domain and recipient and suppresses the recipient', async () => {
  const w = await reputationWorld(FEEDBACK);
  const verp = await deliveredReturnPath(w, 'gone@gmail.com');
  assert.match(verp, VERP);
  assert.equal(counts(w, 'example.com').hardBounces, 0);
  const replies = await w.sendRaw('', [verp], gmailDsn({ to: verp, recipient: 'gone@gmail.com' }));
  assert.deepEqual(replies.slice(1), ['250 2.1.0 Accepted', '250 2.1.5 Accepted', '354 End data with <CR><LF>.<CR><LF>', '250 2.0.0 Ok: report received']);
  assert.equal(counts(w, 'example.com').hardBounces, 1);
  assert.equal(counts(w, 'example.org').hardBounces, 0);
  assert.equal(await w.metric(/^mailrelay_domain_bounce_rate\{domain="example\.com"\}/), 1, '1 async bounce of 1 sent');
  assert.ok(w.h.relay.reputation.isSuppressed('example.com', 'gone@gmail.com'));
  assert.equal(w.h.relay.reputation.isSuppressed('example.org', 'gone@gmail.com'), false);
  assert.equal(w.h.relay.spool.size, 0, 'the report was consumed, not queued');
  // the same DSN again (a provider retrying) counts once
  await w.sendRaw('', [verp], gmailDsn({ to: verp, recipient: 'gone@gmail.com' }));
  assert.equal(counts(w, 'example.com').hardBounces, 1);

  // Microsoft 365's NDR for a message of example.org
  await w.settled(await w.send({ from: 'news@example.org', to: 'gone.user@contoso.com' }));
  const verp2 = w.mx.messages.find((m) => m.to.includes('gone.user@contoso.com'))!.from;
  await w.sendRaw('postmaster@outlook.com', [verp2], outlookDsn({ to: verp2, recipient: 'gone.user@contoso.com' }));
  assert.equal(counts(w, 'example.org').hardBounces, 1);
  assert.ok(w.h.relay.reputation.isSuppressed('example.org', 'gone.user@contoso.com'));
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="dsn",result="counted"\}/), 2);
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="dsn",result="duplicate"\}/), 1);
});

test('forged VERP addresses, delay notices and recipients the address was not made for change nothing', async () => {
  const w = await reputationWorld(FEEDBACK);
  const verp = await deliveredReturnPath(w, 'reader@example.net');
  // flip one hex digit of the domain tag
  const forged = verp.replace(/-([0-9a-f])([0-9a-f]{11})-/, (_, d: string, rest: string) => `-${d === '0' ? '1' : '0'}${rest}-`);
  assert.notEqual(forged, verp);
  assert.equal((await w.sendRaw('', [forged], gmailDsn({ to: forged, recipient: 'reader@example.net' }))).at(-1), '250 2.0.0 Ok: report received');
  await w.sendRaw('', [verp], postfixDelayDsn({ to: verp, recipient: 'reader@example.net' }));
  assert.equal(counts(w, 'example.com').hardBounces, 0);
  assert.equal(w.h.relay.reputation.isSuppressed('example.com', 'reader@example.net'), false);
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="dsn",result="forged"\}/), 1);
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="dsn",result="not_a_failure"\}/), 1);
  // a genuine address, but the report names someone else: the bounce counts, nobody is suppressed
  await w.sendRaw('', [verp], gmailDsn({ to: verp, recipient: 'victim@example.net' }));
  assert.equal(counts(w, 'example.com').hardBounces, 1);
  assert.equal(w.h.relay.reputation.isSuppressed('example.com', 'victim@example.net'), false);
  assert.equal(w.h.relay.reputation.isSuppressed('example.com', 'reader@example.net'), false);
});

test('feedback addresses take mail from anyone but never open a relay', async () => {
  const w = await reputationWorld(FEEDBACK);
  const verp = await deliveredReturnPath(w, 'reader@example.net');
  const delivered = w.mx.messages.length;
  // an outsider relaying, with the null sender or one of our domains
  let replies = await w.sendRaw('', ['victim@example.net'], 'Subject: x\r\n\r\nspam\r\n');
  assert.equal(replies[2], '550 5.7.1 Relay access denied: authenticate or send from a trusted network');
  assert.match(replies[3]!, /^503/);
  replies = await w.sendRaw('app@example.com', ['victim@example.net'], 'Subject: x\r\n\r\nspam\r\n');
  assert.equal(replies[2], '550 5.7.1 Relay access denied: authenticate or send from a trusted network');
  // an outside recipient riding along with a VERP recipient is refused; the message is only consumed
  replies = await w.sendRaw('', [verp, 'victim@example.net', 'fbl@example.com'], 'Subject: hi\r\n\r\nnot a report\r\n');
  assert.deepEqual(replies.slice(2), [
    '250 2.1.5 Accepted',
    '550 5.7.1 Relay access denied: authenticate or send from a trusted network',
    '250 2.1.5 Accepted',
    '354 End data with <CR><LF>.<CR><LF>',
    '250 2.0.0 Ok: report received',
  ]);
  replies = await w.sendRaw('spammer@example.net', ['anything@bounces.example.com', 'victim@example.net'], 'Subject: hi\r\n\r\nspam\r\n');
  assert.equal(replies[3], '550 5.7.1 Relay access denied: authenticate or send from a trusted network');
  assert.equal(replies.at(-1), '250 2.0.0 Ok: report received');
  assert.equal(w.h.relay.spool.size, 0, 'nothing was queued');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(w.mx.messages.length, delivered, 'nothing was relayed');
  assert.ok((await w.metric(/^mailrelay_messages_rejected_total\{listener="plain",reason="relay_denied"\}/)) >= 3);
  // a trusted client keeps reports and mail apart: 452 sends the other kind to a new transaction
  const id = await w.send({ to: ['someone@example.net', verp] });
  assert.deepEqual(
    w.h.relay.spool.get(id)?.meta.recipients.map((r) => r.address) ?? w.mx.messages.at(-1)!.to,
    ['someone@example.net'],
  );
  assert.equal(await w.metric(/^mailrelay_messages_rejected_total\{listener="plain",reason="mixed_transaction"\}/), 1);
});

test('suppressed recipients are refused at RCPT with 550 5.1.1 for their sending domain until the entry expires', async () => {
  const w = await reputationWorld({
    config: { suppression: { expiry: '1500ms' } },
    mx: {
      onRcpt: (a) => {
        if (a.startsWith('bad')) return { code: 550, text: '5.1.1 no such user' };
        if (a.startsWith('policy')) return { code: 550, text: '5.7.1 message refused as spam' };
        return undefined;
      },
    },
  });
  await w.settled(await w.send({ to: ['bad@example.net', 'policy@example.net'] }));
  await waitFor('suppressed', () => w.h.relay.reputation.isSuppressed('example.com', 'bad@example.net'));
  assert.equal(w.h.relay.reputation.isSuppressed('example.com', 'policy@example.net'), false, 'a policy refusal says nothing about the address');
  await assert.rejects(w.send({ to: 'Bad@Example.net' }), (err: { response?: string }) => {
    assert.equal(err.response, '550 5.1.1 Recipient is suppressed for example.com after a hard bounce or complaint');
    return true;
  });
  assert.equal(await w.metric(/^mailrelay_messages_rejected_total\{listener="plain",reason="suppressed"\}/), 1);
  // nodemailer sends the rest when one recipient is refused
  const info = w.send({ to: ['bad@example.net', 'fine@example.net'] });
  await w.settled(await info);
  assert.ok(w.mx.messages.some((m) => m.to.includes('fine@example.net')));
  await w.send({ from: 'news@example.org', to: 'bad@example.net' });

  const handlers = createReputationHandlers(w.h.relay.reputation);
  const listed = await handlers.listSuppressions({}, { domain: 'example.com' });
  assert.equal(listed.status, 200);
  assert.deepEqual(
    (listed.body as { suppressions: Array<{ recipient: string; reason: string; detail: string }> }).suppressions.map((s) => [s.recipient, s.reason, s.detail]),
    [['bad@example.net', 'hard_bounce', '550 5.1.1 no such user']],
  );
  await waitFor('expired', () => !w.h.relay.reputation.isSuppressed('example.com', 'bad@example.net'), 5000);
  await w.send({ to: 'bad@example.net' });
});

test('without VERP, an ARF report is attributed by the From: of the attached original; with VERP, only a signed return path counts', async () => {
  const plain = await reputationWorld({ config: { feedback: { complaintAddress: 'fbl@example.com' } } });
  const id = await plain.send({ from: 'news@example.org', to: 'reader@yahoo.com' });
  await plain.settled(id);
  assert.equal(plain.mx.messages[0]!.from, 'news@example.org', 'no VERP: the envelope sender is kept');
  await plain.sendRaw('feedback@arf.mail.yahoo.com', ['FBL@example.com'], arfReport({ to: 'fbl@example.com', originalTo: 'reader@yahoo.com', originalFrom: 'news@example.org' }));
  assert.equal(counts(plain, 'example.org').complaints, 1);
  assert.equal(counts(plain, 'example.com').complaints, 0);
  assert.ok(plain.h.relay.reputation.isSuppressed('example.org', 'reader@yahoo.com'));
  await plain.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalTo: 'a@example.net', originalFrom: 'someone@elsewhere.example' }));
  assert.equal(await plain.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="unattributed"\}/), 1);

  const signed = await reputationWorld(FEEDBACK);
  const verp = await deliveredReturnPath(signed, 'reader@yahoo.com');
  const forged = verp.replace(/^b-[0-9a-z]{16}/, 'b-0000000000000000');
  await signed.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalMailFrom: forged, originalTo: 'reader@yahoo.com' }));
  await signed.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalTo: 'reader@yahoo.com' }));
  assert.equal(counts(signed, 'example.com').complaints, 0, 'headers alone do not count when VERP is on');
  assert.equal(await signed.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="unattributed"\}/), 2);
  // Microsoft JMRP redacts the recipient: the complaint counts, nobody is suppressed
  await signed.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', returnPath: verp, originalTo: 'redacted', userAgent: 'Microsoft JMRP' }));
  assert.equal(counts(signed, 'example.com').complaints, 1);
  assert.deepEqual(signed.h.relay.reputation.listSuppressions('example.com'), []);
});

test('hostile reports over SMTP are taken in and dropped as unreadable, and count nothing', async () => {
  const w = await reputationWorld(FEEDBACK);
  const reports = hostileReports();
  for (const name of ['repeated field lines', 'huge continued field', 'deep nesting', 'many empty parts']) {
    const replies = await w.sendRaw('x@example.net', ['fbl@example.com'], reports[name]!);
    assert.equal(replies.at(-1), '250 2.0.0 Ok: report received', name);
  }
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="unreadable"\}/), 4);
  assert.equal(counts(w, 'example.com').complaints, 0);
});
