import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly ca: Buffer;
}

/**
 * A throwaway CA and a server certificate for localhost/127.0.0.1, made with the openssl CLI
 * (Node cannot issue X.509 certificates). `cn` varies the subject so reload tests can tell two
 * certificates apart. `names`, when given, are the certificate's only DNS names instead (MX and
 * MTA-STS policy hosts of the test DNS server); the CA is made once per `dir`.
 */
export function makeCertificates(dir: string, cn = 'localhost', names?: readonly string[]): TestCertificates {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const caKey = join(dir, 'ca.key');
  const caFile = join(dir, 'ca.crt');
  const keyFile = join(dir, `${cn}.key`);
  const csr = join(dir, `${cn}.csr`);
  const certFile = join(dir, `${cn}.crt`);
  const ext = join(dir, `${cn}.ext`);
  try {
    readFileSync(caFile);
  } catch {
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=mail-relay test CA']);
  }
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  const altNames = names ? names.map((n) => `DNS:${n}`).join(',') : 'DNS:localhost,IP:127.0.0.1,IP:::1';
  writeFileSync(ext, `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth\n`);
  run(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext]);
  return { caFile, certFile, keyFile, ca: readFileSync(caFile) };
}
