import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideStsResult, resultOfConnectError } from './tls-result.ts';

const allowed = ['mx.example.com'];

test('a verified TLS session to an allowed host is a success', () => {
  assert.equal(decideStsResult(allowed, { host: 'mx.example.com', tls: { authorized: true } }), 'success');
});

test('a host the policy does not name, clear text, or an unverified certificate is each its failure type', () => {
  assert.equal(decideStsResult(allowed, { host: 'other.example.org', tls: { authorized: true } }), 'mx-mismatch');
  assert.equal(decideStsResult(allowed, { host: 'mx.example.com' }), 'starttls-not-supported');
  assert.equal(decideStsResult(allowed, { host: 'mx.example.com', tls: { authorized: false, authorizationError: 'ERR_TLS_CERT_ALTNAME_INVALID' } }), 'certificate-host-mismatch');
  assert.equal(decideStsResult(allowed, { host: 'mx.example.com', tls: { authorized: false, authorizationError: 'CERT_HAS_EXPIRED' } }), 'certificate-expired');
  assert.equal(decideStsResult(allowed, { host: 'mx.example.com', tls: { authorized: false, authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT' } }), 'certificate-not-trusted');
  assert.equal(decideStsResult(allowed, { host: 'mx.example.com', tls: { authorized: false, authorizationError: 'SOMETHING_NEW' } }), 'validation-failure');
});

test('failed STARTTLS handshakes are classified from nodemailer\'s ETLS message; other connection errors are not judged', () => {
  const etls = (message: string) => resultOfConnectError({ code: 'ETLS', message });
  assert.equal(etls("Error initiating TLS - Hostname/IP does not match certificate's altnames: Host: mx. is not in the cert's altnames"), 'certificate-host-mismatch');
  assert.equal(etls('Error initiating TLS - certificate has expired'), 'certificate-expired');
  assert.equal(etls('Error initiating TLS - unable to verify the first certificate'), 'certificate-not-trusted');
  assert.equal(etls('Error initiating TLS - self-signed certificate'), 'certificate-not-trusted');
  assert.equal(etls('Error upgrading connection with STARTTLS'), 'starttls-not-supported');
  assert.equal(decideStsResult(allowed, { connectError: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } }), undefined);
  assert.equal(decideStsResult(allowed, { connectError: { code: 'ESOCKET', originalCode: 'ECONNRESET', message: 'read ECONNRESET' } }), undefined);
  assert.equal(
    decideStsResult(allowed, { connectError: { code: 'ESOCKET', originalCode: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" } }),
    'certificate-host-mismatch',
  );
  assert.equal(decideStsResult(allowed, { connectError: { code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'x' } }), 'certificate-not-trusted');
  assert.equal(decideStsResult(allowed, { connectError: { code: 'ETLS', message: 'Error initiating TLS - certificate has expired' } }), 'certificate-expired');
});
