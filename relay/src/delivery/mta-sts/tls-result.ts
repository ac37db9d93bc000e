/**
 * The result of one delivery attempt under an MTA-STS policy, in the terms of RFC 8460
 * section 4.3 (TLS-RPT result types) plus `success`, and how a failure is recognised from what
 * Node's TLS stack and nodemailer report.
 */
export type StsResult =
  | 'success'
  | 'mx-mismatch'
  | 'starttls-not-supported'
  | 'certificate-host-mismatch'
  | 'certificate-expired'
  | 'certificate-not-trusted'
  | 'validation-failure';

/** The metric label for a result or policy failure (`certificate_host_mismatch`). */
export function resultLabel(result: string): string {
  return result.replace(/-/g, '_');
}

/** A certificate verification error code (TLSSocket#authorizationError, Error#code) as a result. */
export function resultOfCertificateError(code: string): StsResult {
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'certificate-host-mismatch';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'certificate-expired';
  if (
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' ||
    code === 'UNABLE_TO_GET_ISSUER_CERT' ||
    code === 'CERT_UNTRUSTED'
  ) {
    return 'certificate-not-trusted';
  }
  return 'validation-failure';
}

const CERTIFICATE_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
]);

/**
 * A certificate the TLS socket refused reaches us as nodemailer's `ESOCKET` with Node's code kept
 * in `originalCode`. A handshake nodemailer itself wraps is `ETLS` with Node's message only
 * (`Error initiating TLS - certificate has expired`), so there the message is all there is to go
 * on; a refused STARTTLS command is `ETLS` with the server's reply. undefined: not a TLS failure
 * (a refused connection, a timeout), which MTA-STS does not judge.
 */
export function resultOfConnectError(err: {
  readonly code?: string;
  readonly originalCode?: string;
  readonly message?: string;
}): StsResult | undefined {
  if (err.originalCode && CERTIFICATE_CODES.has(err.originalCode)) return resultOfCertificateError(err.originalCode);
  if (err.code !== 'ETLS') return undefined;
  const message = err.message ?? '';
  if (!message.startsWith('Error initiating TLS')) return 'starttls-not-supported';
  if (/does not match certificate's altnames/i.test(message)) return 'certificate-host-mismatch';
  if (/certificate has expired|certificate is not yet valid/i.test(message)) return 'certificate-expired';
  if (/self[- ]signed certificate|unable to verify the first certificate|unable to get (?:local )?issuer certificate|certificate not trusted/i.test(message)) {
    return 'certificate-not-trusted';
  }
  return 'validation-failure';
}

/** Where a transaction under a policy went and what its TLS was (JobSession's shape). */
export interface StsAttempt {
  readonly host?: string;
  readonly tls?: { readonly authorized: boolean; readonly authorizationError?: string };
  readonly connectError?: { readonly code?: string; readonly originalCode?: string; readonly message?: string };
}

/**
 * The result of one transaction to a domain with a policy (RFC 8461 section 4.2 and 5): the
 * host must be one the policy allows and the session must be TLS with a certificate valid for
 * that host. undefined: the attempt failed for a reason MTA-STS does not judge (connection
 * refused, timeout).
 */
export function decideStsResult(allowed: readonly string[], attempt: StsAttempt): StsResult | undefined {
  if (attempt.connectError) return resultOfConnectError(attempt.connectError);
  if (attempt.host === undefined) return undefined;
  if (!allowed.includes(attempt.host)) return 'mx-mismatch';
  if (!attempt.tls) return 'starttls-not-supported';
  if (!attempt.tls.authorized) return resultOfCertificateError(attempt.tls.authorizationError ?? '');
  return 'success';
}
