import { buildUnsubscribeToken, type UnsubscribeScope } from './unsubscribe-token.ts';

/** Where unsubscribe requests go: the public HTTPS base and, optionally, a mailbox of the feedback intake. */
export interface UnsubscribeTarget {
  /** Public base URL, e.g. https://unsubscribe.example.com (the relay serves /u/<token> under it). */
  readonly url: string;
  /** Address of the feedback intake that takes `mailto:` unsubscribes, if any. */
  readonly mailto?: string;
}

/** The path of a token under the public base URL. */
export function unsubscribePath(token: string): string {
  return `/u/${token}`;
}

/**
 * `List-Unsubscribe` (RFC 2369) with the HTTPS link first and the mailto variant, and
 * `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), as header lines ending in
 * CRLF, to put above the message's headers before DKIM signs them (RFC 8058 §4 asks for both
 * to be covered by a signature). The mailto carries the token in the subject: a local part
 * holds only 64 octets. Pure.
 */
export function buildUnsubscribeHeaders(key: Buffer, target: UnsubscribeTarget, scope: UnsubscribeScope): string {
  const token = buildUnsubscribeToken(key, scope);
  const https = `<${target.url.replace(/\/+$/, '')}${unsubscribePath(token)}>`;
  const mailto = target.mailto ? `,\r\n <mailto:${target.mailto}?subject=unsubscribe%20${token}>` : '';
  return `List-Unsubscribe: ${https}${mailto}\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n`;
}

/** The token in the subject of a mailto unsubscribe (`unsubscribe <token>`), if it has one. */
export function tokenFromSubject(subject: string): string | undefined {
  const match = /^\s*(?:(?:re|fwd?):\s*)*unsubscribe\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22})\s*$/i.exec(subject.slice(0, 1200));
  return match?.[1];
}

/**
 * Whether a message gets unsubscribe headers: it has recipients of a sending domain whose mail
 * is bulk as a whole, or whose category is declared bulk. The scope is that category (so a
 * newsletter unsubscribe does not stop password resets), or the domain when the domain is bulk
 * and the category is not declared. Pure.
 */
export function decideUnsubscribeScope(
  domain: { readonly name: string; readonly bulk: boolean; readonly categories: readonly { readonly name: string; readonly bulk: boolean }[] } | undefined,
  category: string | undefined,
): { readonly domain: string; readonly category: string } | undefined {
  if (!domain) return undefined;
  const declared = category ? domain.categories.find((c) => c.name === category) : undefined;
  if (declared?.bulk) return { domain: domain.name, category: declared.name };
  if (domain.bulk) return { domain: domain.name, category: '' };
  return undefined;
}
