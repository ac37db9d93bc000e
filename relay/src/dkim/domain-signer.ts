import type { DkimAlgorithm } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import { matchDomain } from '../mail-address.ts';
import { dkimAlgorithmOf, parseDkimPrivateKey, signMessage, type DkimKey } from './dkim-signer.ts';

export interface DomainSigner {
  /** The message with a DKIM-Signature prepended, or as it is when no key fits its From: domain. */
  signMessage(message: Buffer, headerFromDomain: string | undefined): Buffer;
  /**
   * The DKIM-Signature field for a message streamed from disk: `head` holds its header block,
   * `bodyHash` was computed while streaming the body. Empty when no key fits.
   */
  signatureFor(head: Buffer, bodyHash: string, headerFromDomain: string | undefined): string;
  /** Whether a message of this From: domain would be signed (so a caller can skip hashing). */
  signs(headerFromDomain: string | undefined): boolean;
}

/**
 * Picks the DKIM key for a message by the domain of its From: header (or a parent domain,
 * which still aligns under DMARC's relaxed mode). Messages of other domains pass unsigned.
 */
export function createDomainSigner(
  keyFiles: ReadonlyArray<{ domain: string; selector: string; algorithm: string; pem: string }>,
  now: () => number = Date.now,
): DomainSigner {
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
  const keyFor = (fromDomain: string | undefined) => {
    const domain = fromDomain ? matchDomain(fromDomain, keys.keys()) : undefined;
    return domain ? keys.get(domain) : undefined;
  };
  const timestamp = () => Math.floor(now() / 1000);
  return {
    signMessage(message, fromDomain) {
      const key = keyFor(fromDomain);
      if (!key) return message;
      return Buffer.concat([Buffer.from(signMessage(message, key, { timestamp: timestamp() }), 'latin1'), message]);
    },
    signatureFor(head, bodyHash, fromDomain) {
      const key = keyFor(fromDomain);
      return key ? signMessage(head, key, { timestamp: timestamp(), bodyHash }) : '';
    },
    signs: (fromDomain) => keyFor(fromDomain) !== undefined,
  };
}
