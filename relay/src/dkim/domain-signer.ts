import type { DkimAlgorithm } from '../config/schema.ts';
import { RelayError } from '../errors.ts';
import { dkimAlgorithmOf, parseDkimPrivateKey, signMessage, type DkimKey } from './dkim-signer.ts';

/**
 * `signingDomain` is the message's MessageMeta.signingDomain: the configured domain decided at
 * acceptance as one its submitter may send as (the From: domain or a parent of it, which still
 * aligns under DMARC's relaxed mode). Only that domain's key is used, never one picked from
 * the headers at delivery time, so no message is signed with another tenant's key.
 */
export interface DomainSigner {
  /** The message with a DKIM-Signature prepended, or as it is when the domain has no key. */
  signMessage(message: Buffer, signingDomain: string | null | undefined): Buffer;
  /**
   * The DKIM-Signature field for a message streamed from disk: `head` holds its header block,
   * `bodyHash` was computed while streaming the body. Empty when the domain has no key.
   */
  signatureFor(head: Buffer, bodyHash: string, signingDomain: string | null | undefined): string;
  /** Whether a message would be signed (so a caller can skip hashing). */
  signs(signingDomain: string | null | undefined): boolean;
}

/** The DKIM keys of the configured domains; a message without a signing domain passes unsigned. */
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
  const keyFor = (signingDomain: string | null | undefined) => (signingDomain ? keys.get(signingDomain) : undefined);
  const timestamp = () => Math.floor(now() / 1000);
  return {
    signMessage(message, signingDomain) {
      const key = keyFor(signingDomain);
      if (!key) return message;
      return Buffer.concat([Buffer.from(signMessage(message, key, { timestamp: timestamp() }), 'latin1'), message]);
    },
    signatureFor(head, bodyHash, signingDomain) {
      const key = keyFor(signingDomain);
      return key ? signMessage(head, key, { timestamp: timestamp(), bodyHash }) : '';
    },
    signs: (signingDomain) => keyFor(signingDomain) !== undefined,
  };
}

/**
 * A DomainSigner whose keys are replaced when relay.yaml names others (a DKIM rotation switches
 * the selector and key file): each message is signed with the keys current when it is sent.
 */
export class ReloadableSigner implements DomainSigner {
  #current: DomainSigner;

  constructor(initial: DomainSigner) {
    this.#current = initial;
  }

  replace(next: DomainSigner): void {
    this.#current = next;
  }

  signMessage(message: Buffer, signingDomain: string | null | undefined): Buffer {
    return this.#current.signMessage(message, signingDomain);
  }

  signatureFor(head: Buffer, bodyHash: string, signingDomain: string | null | undefined): string {
    return this.#current.signatureFor(head, bodyHash, signingDomain);
  }

  signs(signingDomain: string | null | undefined): boolean {
    return this.#current.signs(signingDomain);
  }
}
