import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { dkimAlgorithmOf, type DkimAlgorithm } from '../resources/dns-records.ts';

/** Off the event loop: an RSA 2048 key takes tens of milliseconds, and hundreds may be due at once. */
export function generateKey(algorithm: DkimAlgorithm): Promise<string> {
  const encoding = { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } } as const;
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _publicKey: string, privateKey: string) => (err ? reject(err) : resolve(privateKey));
    if (algorithm === 'ed25519-sha256') generateKeyPair('ed25519', encoding, done);
    else generateKeyPair('rsa', { modulusLength: 2048, ...encoding }, done);
  });
}

/** A DKIM private key in PEM, or why it cannot sign. */
export function parseKey(pem: string): { algorithm: DkimAlgorithm; publicKey: KeyObject } | string {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    return 'not a PEM private key';
  }
  const algorithm = dkimAlgorithmOf(key);
  if (!algorithm) return `${key.asymmetricKeyType} keys cannot sign DKIM; use RSA or Ed25519`;
  // RFC 8301: verifiers must reject RSA keys shorter than 1024 bits.
  if (algorithm === 'rsa-sha256' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 1024) return 'RSA keys must have at least 1024 bits (RFC 8301)';
  return { algorithm, publicKey: createPublicKey(key) };
}
