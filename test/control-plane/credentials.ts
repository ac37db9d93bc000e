import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Credentials {
  /** Bearer token of a user in system:masters, which RBAC always allows. */
  adminToken: string;
  tokenAuthFile: string;
  /** RSA key used both to sign and to verify service-account tokens. */
  serviceAccountKeyFile: string;
}

/**
 * A static token rather than a client certificate: Node cannot issue X.509
 * certificates without openssl or a dependency, and the admin identity only has
 * to exist for the lifetime of one throwaway control plane.
 */
export function writeCredentials(dir: string): Credentials {
  const adminToken = randomBytes(32).toString('hex');
  const tokenAuthFile = join(dir, 'tokens.csv');
  writeFileSync(tokenAuthFile, `${adminToken},admin,admin,"system:masters"\n`, { mode: 0o600 });

  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const serviceAccountKeyFile = join(dir, 'service-account.key');
  writeFileSync(serviceAccountKeyFile, privateKey, { mode: 0o600 });

  return { adminToken, tokenAuthFile, serviceAccountKeyFile };
}
