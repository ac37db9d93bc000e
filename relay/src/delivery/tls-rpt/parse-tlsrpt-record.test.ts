import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTlsRptRecord } from './parse-tlsrpt-record.ts';

test('the rua URIs of a TLSRPTv1 record, mailto and https, in order', () => {
  assert.deepEqual(parseTlsRptRecord([['v=TLSRPTv1; rua=mailto:reports@example.com, https://reporting.example.com/v1/tlsrpt']]), [
    { kind: 'mailto', address: 'reports@example.com' },
    { kind: 'https', url: 'https://reporting.example.com/v1/tlsrpt' },
  ]);
  assert.deepEqual(parseTlsRptRecord([['v=TLSRPTv1;rua=mailto:tls%2Brpt@example.com?subject=x;']]), [{ kind: 'mailto', address: 'tls+rpt@example.com' }]);
});

test('other schemes and malformed URIs are dropped; none left, no rua, or two records means no reports', () => {
  assert.deepEqual(parseTlsRptRecord([['v=TLSRPTv1; rua=http://insecure.example.com/,ftp://x,mailto:ok@example.com,mailto:bad']]), [
    { kind: 'mailto', address: 'ok@example.com' },
  ]);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1; rua=http://insecure.example.com/']]), undefined);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1;']]), undefined);
  assert.equal(parseTlsRptRecord([['v=spf1 -all']]), undefined);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1; rua=mailto:a@example.com'], ['v=TLSRPTv1; rua=mailto:b@example.com']]), undefined);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com']]), undefined);
  assert.equal(parseTlsRptRecord([['v=TLSRPTv1; garbage']]), undefined);
});
