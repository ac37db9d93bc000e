import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Credentials {
  /** Bearer token of a user in system:masters, which RBAC always allows. */
  adminToken: string;
  tokenAuthFile: string;
  /** RSA key used both to sign and to verify service-account tokens. */
  serviceAccountKeyFile: string;
}

/**
 * Reuses the files in `dir` when a previous start wrote them. A static token rather than a client certificate: Node cannot issue X.509
 * certificates without openssl or a dependency, and the admin identity only has
 * to exist for the lifetime of one throwaway control plane.
 */
export function writeCredentials(dir: string): Credentials {
  const tokenAuthFile = join(dir, 'tokens.csv');
  const serviceAccountKeyFile = join(dir, 'service-account.key');
  // a kept control plane (stateDir): the same admin token and the key its ServiceAccount tokens were signed with
  if (existsSync(tokenAuthFile) && existsSync(serviceAccountKeyFile)) {
    const adminToken = readFileSync(tokenAuthFile, 'utf8').split(',')[0] ?? '';
    if (/^[0-9a-f]{64}$/.test(adminToken)) return { adminToken, tokenAuthFile, serviceAccountKeyFile };
  }
  const adminToken = randomBytes(32).toString('hex');
  writeFileSync(tokenAuthFile, `${adminToken},admin,admin,"system:masters"\n`, { mode: 0o600 });

  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  writeFileSync(serviceAccountKeyFile, privateKey, { mode: 0o600 });

  return { adminToken, tokenAuthFile, serviceAccountKeyFile };
}
