import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matches } from './dns-verifier.ts';
import { decideReconciled } from './mail-relay-controller.ts';
import { parseConfigRejected, parseDeliveryTls, parseRelayFigures, ratesOf, sumFigures } from './relay-figures.ts';
import { buildCategoriesStatus, buildReputationStatus } from './sending-domain-controller.ts';

const POD = `# HELP mailrelay_domain_window_messages x
# TYPE mailrelay_domain_window_messages gauge
mailrelay_domain_window_messages{domain="example.com",outcome="sent"} 8
mailrelay_domain_window_messages{domain="example.com",outcome="delivered"} 7
mailrelay_domain_window_messages{domain="example.com",outcome="deferred"} 2
mailrelay_domain_window_messages{domain="example.com",outcome="bounced"} 1
mailrelay_domain_window_messages{domain="example.com",outcome="complained"} 0
mailrelay_domain_breach_window_messages{domain="example.com",outcome="sent"} 4
mailrelay_domain_breach_window_messages{domain="example.com",outcome="bounced"} 1
mailrelay_domain_bounce_rate{domain="example.com"} 0.125
mailrelay_domain_paused{domain="example.com"} 1
mailrelay_domain_relay_wide_pause_start_timestamp_seconds{domain="example.com"} 1733353348.123
mailrelay_domain_last_resume_timestamp_seconds{domain="example.com"} 1733350000.5
mailrelay_category_window_messages{domain="example.com",category="receipts",outcome="sent"} 5
mailrelay_category_window_messages{domain="example.com",category="receipts",outcome="bounced"} 1
mailrelay_messages_delivered_total{domain="example.com",provider="gmail"} 500
mailrelay_messages_received_total{listener="smtp"} 9
mailrelay_domain_window_messages{domain="news.example.com",outcome="sent"} NaN
`;

test('reads a pod\'s 24 h window, breach window, pause and resume times and categories per domain; since-restart counters are no figure', () => {
  const f = parseRelayFigures(POD).get('example.com')!;
  assert.deepEqual(f.window, { sent: 8, delivered: 7, deferred: 2, bounced: 1, complained: 0 });
  assert.deepEqual(f.breach, { sent: 4, delivered: 0, deferred: 0, bounced: 1, complained: 0 });
  assert.equal(f.paused, true);
  assert.equal(f.relayWideSince, 1733353348123);
  assert.equal(f.resumedAt, 1733350000500);
  assert.deepEqual([...f.categories], [['receipts', { sent: 5, delivered: 0, deferred: 0, bounced: 1, complained: 0 }]]);
  assert.equal(parseRelayFigures(POD).has('news.example.com'), false, 'NaN is no figure');
});

test('sums pods: counts add, rates come from the sums (not the worst pod), categories add, paused pods count', () => {
  const a = parseRelayFigures(POD).get('example.com')!;
  const b = { ...a, window: { sent: 92, delivered: 90, deferred: 0, bounced: 1, complained: 1 }, paused: false, categories: new Map([['receipts', { sent: 1, delivered: 1, deferred: 0, bounced: 0, complained: 0 }]]) };
  const sum = sumFigures([a, b]);
  assert.deepEqual(sum.window, { sent: 100, delivered: 97, deferred: 2, bounced: 2, complained: 1 });
  assert.deepEqual(sum.breach, { sent: 8, delivered: 0, deferred: 0, bounced: 2, complained: 0 });
  assert.deepEqual([...sum.categories], [['receipts', { sent: 6, delivered: 1, deferred: 0, bounced: 1, complained: 0 }]]);
  assert.equal(sum.pausedPods, 1);
  assert.equal(sum.pods, 2);
  // pod a alone has 1/8 = 0.125; the relay has 2/100
  assert.equal(ratesOf(sum.window).bounceRate, 0.02);
  assert.equal(ratesOf(sum.window).deferralRate, 2 / 102);
  assert.deepEqual(buildReputationStatus(sum), {
    bounceRate: 0.02,
    complaintRate: 0.0103,
    deferralRate: 0.0196,
    sent: 100,
    delivered: 97,
    deferred: 2,
    bounced: 2,
    complaints: 1,
    pausedPods: 1,
    pods: 2,
  });
  assert.deepEqual(buildCategoriesStatus(sum), [{ name: 'receipts', sent: 6, delivered: 1, deferred: 0, bounced: 1, complained: 0, bounceRate: 0.1667, complaintRate: 0 }]);
});

test('tells a pod that refused its mounted config from one that took it', () => {
  assert.equal(parseConfigRejected(`${POD}# TYPE mailrelay_config_last_reload_success gauge\nmailrelay_config_last_reload_success 0\n`), true);
  assert.equal(parseConfigRejected(`${POD}mailrelay_config_last_reload_success 1\n`), false);
  assert.equal(parseConfigRejected(POD), false, 'a relay without the gauge (older image) is not reported');
});

test('Reconciled is False with ConfigRejected while any pod refused the config, True otherwise', () => {
  assert.deepEqual(decideReconciled(4, undefined), { status: 'True', reason: 'Reconciled', message: 'generation 4 applied' });
  assert.equal(decideReconciled(4, { rejected: 0, pods: 2 }).status, 'True');
  const rejected = decideReconciled(4, { rejected: 1, pods: 2 });
  assert.equal(rejected.status, 'False');
  assert.equal(rejected.reason, 'ConfigRejected');
  assert.match(rejected.message, /1 of 2 relay pods refused/);
});

test('DNS checks: DKIM by key, SPF must allow the relay, DMARC needs a policy', () => {
  const dkim = { purpose: 'dkim' as const, type: 'TXT', name: 's._domainkey.example.com', value: 'v=DKIM1; k=rsa; p=ABC' };
  assert.equal(matches(dkim, 'v=DKIM1;k=rsa; p=A B C'), true);
  assert.equal(matches(dkim, 'v=DKIM1; k=rsa; p=XYZ'), false);
  const spf = { purpose: 'spf' as const, type: 'TXT', name: 'example.com', value: 'v=spf1 a:relay.example.com ~all' };
  assert.equal(matches(spf, 'v=spf1 include:_spf.google.com a:relay.example.com -all'), true);
  assert.equal(matches(spf, 'v=spf1 include:_spf.google.com -all'), false);
  const dmarc = { purpose: 'dmarc' as const, type: 'TXT', name: '_dmarc.example.com', value: 'v=DMARC1; p=none' };
  assert.equal(matches(dmarc, 'v=DMARC1; p=reject; rua=mailto:x@example.com'), true);
  assert.equal(matches(dmarc, 'v=DMARC1; rua=mailto:x@example.com'), false);
});

test('reads TLS use of deliveries to the big providers: verified and encrypted are TLS, none is not, other providers do not count', () => {
  const text = [
    'mailrelay_outbound_tls_deliveries_total{provider="gmail",tls="verified"} 90',
    'mailrelay_outbound_tls_deliveries_total{provider="microsoft",tls="encrypted"} 5',
    'mailrelay_outbound_tls_deliveries_total{provider="yahoo",tls="none"} 5',
    'mailrelay_outbound_tls_deliveries_total{provider="other",tls="none"} 1000',
  ].join('\n');
  assert.deepEqual(parseDeliveryTls(text), { delivered: 100, tls: 95 });
  assert.equal(parseDeliveryTls('mailrelay_outbound_tls_deliveries_total{provider="other",tls="verified"} 3\n'), undefined, 'nothing to the big providers: unknown');
  assert.equal(parseDeliveryTls(POD), undefined);
});
