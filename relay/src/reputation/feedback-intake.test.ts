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

/** The header of a message as the MX received it (with the relay's Received: and Message-ID:). */
function headerOf(w: ReputationWorld, to: string): string {
  const body = w.mx.messages.find((m) => m.to.includes(to))!.body.toString('latin1');
  return body.slice(0, body.indexOf('\r\n\r\n'));
}

test('without VERP, an ARF report counts only for a queue id of ours in the attached original, for the recipient we sent it to', async () => {
  const plain = await reputationWorld({ config: { feedback: { complaintAddress: 'fbl@example.com' } } });
  const id = await plain.send({ from: 'news@example.org', to: 'reader@yahoo.com' });
  await plain.settled(id);
  assert.equal(plain.mx.messages[0]!.from, 'news@example.org', 'no VERP: the envelope sender is kept');
  const original = headerOf(plain, 'reader@yahoo.com');
  // the provider redacts the complainant: the recipient comes from the relay's own record
  await plain.sendRaw('feedback@arf.mail.yahoo.com', ['FBL@example.com'], arfReport({ to: 'fbl@example.com', originalTo: 'redacted', original }));
  assert.equal(counts(plain, 'example.org').complaints, 1);
  assert.equal(counts(plain, 'example.com').complaints, 0);
  assert.ok(plain.h.relay.reputation.isSuppressed('example.org', 'reader@yahoo.com'));
  // the From: of a domain of ours is not enough
  await plain.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalTo: 'a@example.net', originalFrom: 'app@example.com' }));
  assert.equal(await plain.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="unattributed"\}/), 1);
  assert.equal(counts(plain, 'example.com').complaints, 0);

  const signed = await reputationWorld(FEEDBACK);
  const verp = await deliveredReturnPath(signed, 'reader@yahoo.com');
  const forged = verp.replace(/^b-[0-9a-z]{16}/, 'b-0000000000000000');
  await signed.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalMailFrom: forged, originalTo: 'reader@yahoo.com' }));
  await signed.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalTo: 'reader@yahoo.com' }));
  assert.equal(counts(signed, 'example.com').complaints, 0, 'neither a forged return path nor headers of no message of ours count');
  assert.equal(await signed.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="unattributed"\}/), 2);
  // Microsoft JMRP redacts the recipient: the complaint counts for the recipient the VERP address was made for
  await signed.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', returnPath: verp, originalTo: 'redacted', userAgent: 'Microsoft JMRP' }));
  assert.equal(counts(signed, 'example.com').complaints, 1);
  assert.deepEqual(signed.h.relay.reputation.listSuppressions('example.com').map((s) => [s.recipient, s.reason]), [['reader@yahoo.com', 'complaint']]);
});

test('a report sent 50 times, and again after a restart, counts once', async () => {
  const w = await reputationWorld(FEEDBACK);
  const verp = await deliveredReturnPath(w, 'gone@gmail.com');
  const complained = await deliveredReturnPath(w, 'reader@yahoo.com');
  const dsn = gmailDsn({ to: verp, recipient: 'gone@gmail.com' });
  const arf = arfReport({ to: 'fbl@example.com', returnPath: complained, originalTo: 'reader@yahoo.com' });
  await Promise.all(Array.from({ length: 25 }, () => w.sendRaw('', [verp], dsn)));
  await Promise.all(Array.from({ length: 25 }, () => w.sendRaw('x@example.net', ['fbl@example.com'], arf)));
  for (let i = 0; i < 25; i++) {
    await w.sendRaw('', [verp], dsn);
    await w.sendRaw('x@example.net', ['fbl@example.com'], arf);
  }
  assert.deepEqual([counts(w, 'example.com').hardBounces, counts(w, 'example.com').complaints], [1, 1]);
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="dsn",result="duplicate"\}/), 49);
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="duplicate"\}/), 49);
  w.h = await w.h.restart();
  assert.equal((await w.sendRaw('', [verp], dsn)).at(-1), '250 2.0.0 Ok: report received');
  await w.sendRaw('x@example.net', ['fbl@example.com'], arf);
  assert.deepEqual([counts(w, 'example.com').hardBounces, counts(w, 'example.com').complaints], [1, 1], 'remembered across the restart');
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="(dsn|arf)",result="duplicate"\}/), 2);
});

test('forged reports for messages never sent count nothing and suppress nobody', async () => {
  const plain = await reputationWorld({ config: { feedback: { complaintAddress: 'fbl@example.com' } } });
  await plain.settled(await plain.send({ to: 'reader@example.net' }));
  const real = headerOf(plain, 'reader@example.net');
  const realId = /id (\w{16})/.exec(real)![1]!;
  // our host name and shape, but a queue id the relay never issued (one digit off a real one)
  const fakeId = realId.slice(0, -1) + (realId.endsWith('0') ? '1' : '0');
  const forgedOriginal = real.replace(new RegExp(realId, 'gi'), fakeId).replace(/^To: .*$/m, 'To: victim@example.net');
  for (const victim of ['victim@example.net', 'ceo@example.net']) {
    await plain.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalRcptTo: victim, originalTo: victim, original: forgedOriginal }));
  }
  // a real message, but the report names someone else: counted (it is ours), nobody suppressed
  const retold = real.replace(/^To: .*$/m, 'To: victim@example.net');
  await plain.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalRcptTo: 'victim@example.net', originalTo: 'victim@example.net', original: retold }));
  assert.equal(counts(plain, 'example.com').complaints, 1);
  assert.equal(await plain.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="unattributed"\}/), 2);
  assert.deepEqual(plain.h.relay.reputation.listSuppressions('example.com'), []);

  // another tenant writes a Received: naming example.com's message into its own: only the relay's topmost one is read
  const forging = `Received: from x ([192.0.2.66]) by relay.test (mail-relay) with ESMTP id ${realId}; Sat, 28 Nov 2026 17:58:58 +0000`;
  await plain.settled(await plain.send({ from: 'news@example.org', to: 'spam-target@example.net', headers: { Received: forging.slice('Received: '.length) } }));
  const spam = headerOf(plain, 'spam-target@example.net');
  assert.ok(spam.includes(realId), 'the forged field went out with the message');
  await plain.sendRaw('x@example.net', ['fbl@example.com'], arfReport({ to: 'fbl@example.com', originalTo: 'spam-target@example.net', original: spam }));
  assert.equal(counts(plain, 'example.com').complaints, 1, 'example.com is not blamed');
  assert.equal(counts(plain, 'example.org').complaints, 1);
});

test('a client sending more reports than its budget (120 at once, 2 a second after) gets 451 4.7.1', async () => {
  const w = await reputationWorld(FEEDBACK);
  const report = arfReport({ to: 'fbl@example.com', originalTo: 'reader@yahoo.com' });
  const replies: string[] = [];
  const started = Date.now();
  for (let i = 0; i < 12; i++) {
    const batch = await Promise.all(Array.from({ length: 16 }, () => w.sendRaw('x@example.net', ['fbl@example.com'], report)));
    replies.push(...batch.map((r) => r.at(-1)!));
  }
  const seconds = (Date.now() - started) / 1000;
  const accepted = replies.filter((r) => r === '250 2.0.0 Ok: report received').length;
  // the budget refills by two a second while the test runs: the bound follows the time it took
  assert.ok(accepted >= 120 && accepted <= 120 + Math.ceil(seconds * 2) + 1, `${accepted} accepted in ${seconds} s`);
  assert.ok(accepted < replies.length, `all ${replies.length} accepted in ${seconds} s`);
  assert.deepEqual([...new Set(replies.filter((r) => !r.startsWith('250')))], ['451 4.7.1 Too many reports from your address, try again later']);
  assert.equal(await w.metric(/^mailrelay_feedback_reports_total\{kind="arf",result="rate_limited"\}/), replies.length - accepted);
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
