import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideBulkSenderReadiness, dmarcPolicy, uncoveredEgress, type BulkSenderInputs } from './bulk-sender-readiness.ts';

const published = (value: string) => ({ outcome: 'published' as const, result: 'published', published: [value] });

function input(over: Partial<BulkSenderInputs> = {}): BulkSenderInputs {
  return {
    domain: 'example.com',
    dkim: { outcome: 'published', result: 'published' },
    spf: published('v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all'),
    dmarc: published('v=DMARC1; p=none; adkim=r'),
    egressAddresses: ['192.0.2.10', '2001:db8:1::/48'],
    complaintRate: 0.0002,
    bulk: true,
    unsubscribe: true,
    tlsShare: 1,
    ...over,
  };
}

test('every rule met: True RulesMet', () => {
  const d = decideBulkSenderReadiness(input());
  assert.deepEqual([d.status, d.reason], ['True', 'RulesMet']);
});

test('each rule flips the condition with its own reason and a message that says what to fix', () => {
  const cases: [Partial<BulkSenderInputs>, string, string, RegExp][] = [
    [{ dkim: { outcome: 'missing', result: 'no TXT record at s1._domainkey.example.com' } }, 'False', 'DkimNotVerified', /no TXT record at s1\._domainkey.*publish the dkim record/],
    [{ dkim: undefined }, 'False', 'DkimNotVerified', /no DKIM key yet/],
    [{ spf: { outcome: 'missing', result: 'no SPF record at example.com', published: [] } }, 'False', 'SpfMissing', /publish one v=spf1 TXT record at example\.com/],
    [{ spf: { outcome: 'mismatch', result: '2 SPF records at example.com; there must be exactly one', published: ['v=spf1 -all', 'v=spf1 ~all'] } }, 'False', 'SpfMissing', /exactly one/],
    [{ spf: published('v=spf1 include:_spf.example.net ~all') }, 'False', 'SpfMissesEgress', /192\.0\.2\.10, 2001:db8:1::\/48 \(includes are not followed\); add ip4:192\.0\.2\.10 ip6:2001:db8:1::\/48/],
    [{ dmarc: { outcome: 'missing', result: 'no TXT record at _dmarc.example.com', published: [] } }, 'False', 'DmarcMissing', /publish one v=DMARC1 TXT record at _dmarc\.example\.com/],
    [{ dmarc: published('v=DMARC1; rua=mailto:d@example.com') }, 'False', 'DmarcNoPolicy', /no valid p= tag/],
    [{ dmarc: published('v=DMARC1; p=monitor') }, 'False', 'DmarcNoPolicy', /p=none, p=quarantine or p=reject/],
    [{ complaintRate: 0.003 }, 'False', 'ComplaintRateTooHigh', /0\.30% \(24 h\) is at or over 0\.30%/],
    [{ complaintRate: 0.0015 }, 'True', 'ComplaintRateElevated', /0\.15% \(24 h\) is over Google's recommended 0\.10%/],
    [{ unsubscribe: false }, 'False', 'NoOneClickUnsubscribe', /set spec\.unsubscribe\.url/],
    [{ tlsShare: 0.9 }, 'False', 'LowDeliveryTls', /90\.00% of deliveries/],
    [{ tlsShare: undefined }, 'True', 'DeliveryTlsUnknown', /not known yet/],
  ];
  for (const [over, status, reason, message] of cases) {
    const d = decideBulkSenderReadiness(input(over));
    assert.deepEqual([d.status, d.reason], [status, reason], JSON.stringify(over));
    assert.match(d.message, message, reason);
  }
});

test('a transactional domain needs no unsubscribe; no complaint figures yet is no failure', () => {
  assert.equal(decideBulkSenderReadiness(input({ bulk: false, unsubscribe: false })).reason, 'RulesMet');
  assert.equal(decideBulkSenderReadiness(input({ complaintRate: undefined })).reason, 'RulesMet');
});

test('several failures: the first rule names the reason, the message lists them all', () => {
  const d = decideBulkSenderReadiness(input({ dmarc: undefined, unsubscribe: false, complaintRate: 0.01 }));
  assert.deepEqual([d.status, d.reason], ['False', 'DmarcMissing']);
  assert.match(d.message, /DMARC.*; complaint rate 1\.00%.*; the domain sends bulk mail/);
});

test('a failure outranks a warning', () => {
  const d = decideBulkSenderReadiness(input({ complaintRate: 0.002, tlsShare: 0.5 }));
  assert.deepEqual([d.status, d.reason], ['False', 'LowDeliveryTls']);
  assert.match(d.message, /0\.20%.*; 50\.00%/);
});

test('SPF covers an egress network only with a literal ip4:/ip6: at least as wide that contains it', () => {
  const spf = 'v=spf1 ip4:198.51.100.0/24 +ip4:203.0.113.7 -ip4:192.0.2.0/24 ip6:2001:DB8::/32 a mx include:x.example ~all';
  assert.deepEqual(uncoveredEgress(spf, ['198.51.100.9', '198.51.100.128/25', '198.51.0.0/16', '203.0.113.7', '203.0.113.8', '192.0.2.1', '2001:db8:5::1', '2001:db9::1']), [
    '198.51.0.0/16',
    '203.0.113.8',
    '192.0.2.1',
    '2001:db9::1',
  ]);
  assert.deepEqual(uncoveredEgress('v=spf1 ip4:10.0.0.0/99 ip4:not-an-ip ~all', ['10.0.0.1']), ['10.0.0.1']);
  assert.deepEqual(uncoveredEgress('v=spf1 ~all', []), []);
});

test('DMARC p= is read case- and space-insensitively; an unknown value is no policy', () => {
  assert.equal(dmarcPolicy('v=DMARC1;  P = Reject ; pct=100'), 'reject');
  assert.equal(dmarcPolicy('v=DMARC1; sp=none'), undefined);
  assert.equal(dmarcPolicy('v=DMARC1; p='), undefined);
});
