import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matches } from './dns-verifier.ts';
import { decideReconciled } from './mail-relay-controller.ts';
import { mergeFigures, parseConfigRejected, parseDeliveryTls, parseRelayFigures } from './relay-figures.ts';

const POD = `# HELP mailrelay_domain_bounce_rate x
# TYPE mailrelay_domain_bounce_rate gauge
mailrelay_domain_bounce_rate{domain="example.com"} 0.125
mailrelay_domain_complaint_rate{domain="example.com"} 0
mailrelay_domain_deferral_rate{domain="example.com"} 0.5
mailrelay_domain_paused{domain="example.com"} 1
mailrelay_messages_delivered_total{domain="example.com",provider="gmail"} 5
mailrelay_messages_delivered_total{domain="example.com",provider="other"} 2
mailrelay_messages_bounced_total{domain="example.com",provider="gmail",type="hard"} 1
mailrelay_complaints_total{domain="example.com"} 3
mailrelay_messages_received_total{listener="smtp"} 9
mailrelay_domain_bounce_rate{domain="news.example.com"} NaN
`;

test('reads per-domain figures from a relay pod, summing counters over providers', () => {
  const f = parseRelayFigures(POD).get('example.com')!;
  assert.deepEqual(f, { bounceRate: 0.125, complaintRate: 0, deferralRate: 0.5, delivered: 7, bounced: 1, complaints: 3, pausedPods: 1, pods: 1 });
  assert.equal(parseRelayFigures(POD).has('news.example.com'), false, 'NaN is no figure');
});

test('folds pods: counters add, rates take the worst pod, paused pods count', () => {
  const a = parseRelayFigures(POD).get('example.com')!;
  const b = { ...a, bounceRate: 0.02, pausedPods: 0, delivered: 10 };
  assert.deepEqual(mergeFigures(a, b), { ...a, delivered: 17, bounced: 2, complaints: 6, pausedPods: 1, pods: 2 });
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
