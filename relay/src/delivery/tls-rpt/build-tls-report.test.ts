import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTlsReport, reportFileName } from './build-tls-report.ts';
import { parseDailyResults, serializeDailyResults, type DayResults } from './daily-results.ts';

const results = {
  policy: { id: 'p1', text: 'version: STSv1\r\nmode: enforce\r\nmx: *.example.com\r\nmax_age: 86400\r\n', mx: ['*.example.com'] },
  success: 7,
  failures: [
    { type: 'certificate-expired', mx: 'mx1.example.com', count: 2 },
    { type: 'mx-mismatch', mx: 'rogue.example.org', count: 1 },
    { type: 'sts-policy-fetch-error', mx: '', count: 1 },
  ],
  attempts: 0,
  sent: false,
};

test('the report has the RFC 8460 fields, failure counts summed, and our mx-mismatch as a validation-failure with a reason code', () => {
  const report = buildTlsReport({ day: '2026-12-04', domain: 'example.com', results, organization: 'Org', contact: 'c@example.net', reportId: 'id1' });
  assert.deepEqual(report, {
    'organization-name': 'Org',
    'date-range': { 'start-datetime': '2026-12-04T00:00:00Z', 'end-datetime': '2026-12-04T23:59:59Z' },
    'contact-info': 'c@example.net',
    'report-id': 'id1',
    policies: [
      {
        policy: {
          'policy-type': 'sts',
          'policy-string': ['version: STSv1', 'mode: enforce', 'mx: *.example.com', 'max_age: 86400'],
          'policy-domain': 'example.com',
          'mx-host': ['*.example.com'],
        },
        summary: { 'total-successful-session-count': 7, 'total-failure-session-count': 4 },
        'failure-details': [
          { 'result-type': 'certificate-expired', 'receiving-mx-hostname': 'mx1.example.com', 'failed-session-count': 2 },
          { 'result-type': 'validation-failure', 'receiving-mx-hostname': 'rogue.example.org', 'failed-session-count': 1, 'failure-reason-code': 'mx-not-in-policy' },
          { 'result-type': 'sts-policy-fetch-error', 'failed-session-count': 1 },
        ],
      },
    ],
  });
  assert.equal(reportFileName('relay.test', 'example.com', '2026-12-04'), 'relay.test!example.com!1796342400!1796428799.json.gz');
});

test('a domain whose policy could never be fetched is reported as no-policy-found', () => {
  const { policy: _, ...rest } = results;
  const report = buildTlsReport({ day: '2026-12-04', domain: 'example.com', results: rest, organization: 'o', contact: 'c@x.test', reportId: 'r' });
  assert.deepEqual((report.policies as Array<{ policy: unknown }>)[0]!.policy, { 'policy-type': 'no-policy-found', 'policy-domain': 'example.com' });
});

test('stored day results round-trip; files that are not ours are refused', () => {
  const day: DayResults = new Map([['example.com', results]]);
  const parsed = parseDailyResults(serializeDailyResults('2026-12-04', day));
  assert.deepEqual(parsed, { day: '2026-12-04', domains: day });
  assert.equal(parseDailyResults('not json'), undefined);
  assert.equal(parseDailyResults(JSON.stringify({ version: 2, day: '2026-12-04', domains: {} })), undefined);
  assert.equal(parseDailyResults(JSON.stringify({ version: 1, day: '2026-12-04', domains: { '../etc': { ...results } } })), undefined);
  assert.equal(parseDailyResults(JSON.stringify({ version: 1, day: '2026-12-04', domains: { 'example.com': { ...results, success: -1 } } })), undefined);
});
