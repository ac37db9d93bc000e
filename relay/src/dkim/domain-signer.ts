import type { DkimAlgorithm } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import { matchDomain } from '../smtp/sender-policy.ts';
import { dkimAlgorithmOf, parseDkimPrivateKey, signMessage, type DkimKey } from './dkim-signer.ts';

/**
 * Picks the DKIM key for a message by the domain of its From: header (or a parent domain,
 * which still aligns under DMARC's relaxed mode) and prepends the signature. Messages of
 * other domains pass unsigned.
 */
export function createDomainSigner(
  keyFiles: ReadonlyArray<{ domain: string; selector: string; algorithm: string; pem: string }>,
  now: () => number = Date.now,
): (message: Buffer, headerFromDomain: string | undefined) => Buffer {
  const keys = new Map<string, DkimKey>();
  for (const k of keyFiles) {
    let privateKey;
    try {
      privateKey = parseDkimPrivateKey(k.pem);
    } catch (err) {
      throw new RelayError('ERELAY_CONFIG_INVALID', `DKIM key of ${k.domain}: ${(err as Error).message}`, { cause: err });
    }
    const actual = dkimAlgorithmOf(privateKey);
    if (actual !== k.algorithm) {
      throw new RelayError('ERELAY_CONFIG_INVALID', `DKIM key of ${k.domain} is for ${actual}, but the config says ${k.algorithm}`);
    }
    keys.set(k.domain, { domain: k.domain, selector: k.selector, algorithm: actual as DkimAlgorithm, privateKey });
  }
  return (message, fromDomain) => {
    const domain = fromDomain ? matchDomain(fromDomain, keys.keys()) : undefined;
    if (!domain) return message;
    const header = signMessage(message, keys.get(domain)!, { timestamp: Math.floor(now() / 1000) });
    return Buffer.concat([Buffer.from(header, 'latin1'), message]);
  };
}
