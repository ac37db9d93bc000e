import { formatRfc5322Date } from '../../rfc5322-date.ts';
import type { DomainResults } from './daily-results.ts';

export interface TlsReportInput {
  readonly day: string;
  readonly domain: string;
  readonly results: DomainResults;
  /** `organization-name`. */
  readonly organization: string;
  /** `contact-info`. */
  readonly contact: string;
  /** Stable across retries, so a receiver can drop a duplicate. */
  readonly reportId: string;
}

/** Our result names that RFC 8460 does not have, as its result type and a reason code. */
const RESULT_TYPES: Record<string, { type: string; reason?: string }> = {
  'mx-mismatch': { type: 'validation-failure', reason: 'mx-not-in-policy' },
};

/** The aggregate report of one policy domain and one UTC day (RFC 8460 section 4). */
export function buildTlsReport(input: TlsReportInput): Record<string, unknown> {
  const { results, domain } = input;
  const failed = results.failures.reduce((n, f) => n + f.count, 0);
  return {
    'organization-name': input.organization,
    'date-range': { 'start-datetime': `${input.day}T00:00:00Z`, 'end-datetime': `${input.day}T23:59:59Z` },
    'contact-info': input.contact,
    'report-id': input.reportId,
    policies: [
      {
        policy: results.policy
          ? {
              'policy-type': 'sts',
              'policy-string': results.policy.text.split(/\r?\n/).filter((l) => l.trim() !== ''),
              'policy-domain': domain,
              'mx-host': results.policy.mx,
            }
          : { 'policy-type': 'no-policy-found', 'policy-domain': domain },
        summary: { 'total-successful-session-count': results.success, 'total-failure-session-count': failed },
        'failure-details': results.failures.map((f) => {
          const mapped = RESULT_TYPES[f.type] ?? { type: f.type };
          return {
            'result-type': mapped.type,
            ...(f.mx ? { 'receiving-mx-hostname': f.mx } : {}),
            'failed-session-count': f.count,
            ...(mapped.reason ? { 'failure-reason-code': mapped.reason } : {}),
          };
        }),
      },
    ],
  };
}

/** `<submitter>!<policy domain>!<begin>!<end>.json.gz` (RFC 8460 section 5.3), Unix seconds. */
export function reportFileName(submitter: string, domain: string, day: string): string {
  const start = Date.parse(`${day}T00:00:00Z`) / 1000;
  return `${submitter}!${domain}!${start}!${start + 86_399}.json.gz`;
}

export interface TlsReportMessageInput {
  readonly from: string;
  readonly to: string;
  readonly domain: string;
  readonly submitter: string;
  readonly reportId: string;
  readonly day: string;
  readonly gzipped: Buffer;
  readonly now: Date;
  /** Unique per message: boundary and Message-ID. */
  readonly token: string;
}

/** The report as mail (RFC 8460 section 5.3): multipart/report with the gzipped JSON attached. */
export function buildTlsReportMessage(input: TlsReportMessageInput): Buffer {
  const boundary = `tlsrpt-${input.token}`;
  const base64 = input.gzipped.toString('base64').replace(/.{76}/g, '$&\r\n');
  const lines = [
    `From: ${input.from}`,
    `To: ${input.to}`,
    `Subject: Report Domain: ${input.domain} Submitter: ${input.submitter} Report-ID: <${input.reportId}>`,
    `Date: ${formatRfc5322Date(input.now)}`,
    `Message-ID: <${input.token}@${input.submitter}>`,
    `TLS-Report-Domain: ${input.domain}`,
    `TLS-Report-Submitter: ${input.submitter}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type="tlsrpt"; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `This is an aggregate TLS report (RFC 8460) from ${input.submitter} for ${input.domain}, ${input.day}.`,
    '',
    `--${boundary}`,
    'Content-Type: application/tlsrpt+gzip',
    'Content-Transfer-Encoding: base64',
    `Content-Disposition: attachment; filename="${reportFileName(input.submitter, input.domain, input.day)}"`,
    '',
    base64.replace(/\r\n$/, ''),
    '',
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}
