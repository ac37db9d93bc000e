import { decideLabels } from '../submission/message-labels.ts';
import type { MessageMeta, MessageState, RecipientState } from './types.ts';

/**
 * Spool records are read back after crashes, upgrades and disk faults: check their shape once
 * here so that the rest of the relay can trust SpoolEntry. Throws on anything malformed; the
 * caller moves the record to corrupt/.
 */

function fail(what: string): never {
  throw new Error(`spool record: bad ${what}`);
}

function str(v: unknown, what: string): string {
  return typeof v === 'string' ? v : fail(what);
}

function num(v: unknown, what: string): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fail(what);
}

function optStr(v: unknown, what: string): string | undefined {
  return v === undefined ? undefined : str(v, what);
}

function recipients(v: unknown): RecipientState[] {
  if (!Array.isArray(v) || v.length === 0) fail('recipients');
  return v.map((r: Record<string, unknown>) => {
    const status = r?.status;
    if (status !== 'pending' && status !== 'delivered' && status !== 'bounced') fail('recipient status');
    return {
      address: str(r.address, 'recipient address'),
      status,
      ...(r.lastReply !== undefined ? { lastReply: str(r.lastReply, 'lastReply') } : {}),
      ...(r.updatedAt !== undefined ? { updatedAt: num(r.updatedAt, 'updatedAt') } : {}),
    };
  });
}

/**
 * Records written before `signingDomain` existed: signed, as then, for the domain of the
 * From: header, but only when that is the message's sending domain (checked against the
 * submitter at MAIL FROM) or a subdomain of it, so no other tenant's key is used for them.
 */
export function legacySigningDomain(headerFromDomain: string | undefined, sendingDomain: string | undefined): string | null {
  if (!headerFromDomain || !sendingDomain) return null;
  return headerFromDomain === sendingDomain || headerFromDomain.endsWith(`.${sendingDomain}`) ? sendingDomain : null;
}

export function parseMessageMeta(v: unknown): MessageMeta {
  if (typeof v !== 'object' || v === null) fail('meta');
  const m = v as Record<string, unknown>;
  const o = (typeof m.origin === 'object' && m.origin !== null ? m.origin : fail('origin')) as Record<string, unknown>;
  const bodyFile = optStr(m.bodyFile, 'bodyFile');
  const messageId = optStr(m.messageId, 'messageId');
  const sendingDomain = optStr(m.sendingDomain, 'sendingDomain');
  const headerFromDomain = optStr(m.headerFromDomain, 'headerFromDomain');
  const signingDomain = !('signingDomain' in m) ? legacySigningDomain(headerFromDomain, sendingDomain) : m.signingDomain === null ? null : str(m.signingDomain, 'signingDomain');
  if (bodyFile !== undefined && !/^[0-9A-Z]+\.eml$/.test(bodyFile)) fail('bodyFile');
  // the bounds the pipeline checked at acceptance, checked again (records written before them have none)
  const labels = decideLabels({ category: m.category, tags: m.tags, metadata: m.metadata });
  if (!labels.ok) fail(labels.problems[0]!.field);
  return {
    id: str(m.id, 'id'),
    from: str(m.from, 'from'),
    recipients: recipients(m.recipients),
    createdAt: num(m.createdAt, 'createdAt'),
    size: num(m.size, 'size'),
    attempts: num(m.attempts, 'attempts'),
    nextAttemptAt: num(m.nextAttemptAt, 'nextAttemptAt'),
    held: false,
    ...(sendingDomain !== undefined ? { sendingDomain } : {}),
    ...(headerFromDomain !== undefined ? { headerFromDomain } : {}),
    signingDomain,
    ...labels.labels,
    origin: {
      listener: str(o.listener, 'origin.listener'),
      clientAddress: str(o.clientAddress, 'origin.clientAddress'),
      ...(o.user !== undefined ? { user: str(o.user, 'origin.user') } : {}),
      ...(o.helo !== undefined ? { helo: str(o.helo, 'origin.helo') } : {}),
    },
    ...(bodyFile !== undefined ? { bodyFile } : {}),
    ...(messageId !== undefined ? { messageId } : {}),
  };
}

export function parseMessageState(v: unknown): { id: string; state: MessageState } {
  if (typeof v !== 'object' || v === null) fail('state');
  const s = v as Record<string, unknown>;
  return {
    id: str(s.id, 'id'),
    state: {
      recipients: recipients(s.recipients),
      attempts: num(s.attempts, 'attempts'),
      nextAttemptAt: num(s.nextAttemptAt, 'nextAttemptAt'),
      ...(s.adminHold === undefined ? {} : s.adminHold === true ? { adminHold: true } : fail('adminHold')),
    },
  };
}
