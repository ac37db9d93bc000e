import type { RelayConfig } from '../config/schema.ts';
import { HttpError, describeError, errorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import { headerFromDomain } from '../mail-address.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import type { Spool } from '../spool/spool.ts';
import { newQueueId } from '../spool/queue-id.ts';
import { MessageFilter } from '../smtp/message-filter.ts';
import { checkSender } from '../smtp/sender-policy.ts';
import { buildDateHeader, buildMessageIdHeader, buildReceivedHeader } from '../smtp/trace-headers.ts';
import type { ApiClient } from './api-tokens.ts';
import type { SendGate } from '../reputation/send-gate.ts';

export interface Submission {
  readonly client: ApiClient;
  readonly remoteAddress: string;
  /** Envelope sender. */
  readonly from: string;
  /** Envelope recipients. */
  readonly recipients: readonly string[];
  /** The message without trace headers; `composed` messages already carry Message-ID and Date. */
  readonly message: (id: string, now: Date) => Promise<Buffer>;
  readonly composed: boolean;
}

export interface Rejected {
  readonly recipient: string;
  readonly reason: string;
}

export interface Accepted {
  readonly id: string;
  readonly rejected: readonly Rejected[];
}

export interface SubmissionDeps {
  readonly config: RelayConfig;
  readonly spool: Spool;
  readonly gate: SendGate;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
}

const RETRY_AFTER_S = 30;

/**
 * Queues an API message exactly as SMTP intake does: the same sender policy (a configured
 * sending domain that the token may use), the same limits, a Received: trace line and, where
 * missing, Message-ID: and Date:, line endings normalised, and the answer only after the
 * spool's fsync. Throws HttpError for every refusal.
 */
export class ApiSubmission {
  private readonly domains: string[];

  constructor(private readonly deps: SubmissionDeps) {
    this.domains = deps.config.domains.map((d) => d.name);
  }

  async submit(s: Submission): Promise<Accepted> {
    const { config, spool, gate, metrics, logger } = this.deps;
    if (!spool.hasRoomFor(64 * 1024)) throw spoolFull();
    const verdict = checkSender(s.from, s.client, this.domains);
    if ('error' in verdict) {
      throw new HttpError(403, 'sender_not_allowed', verdict.error.message.replace(/^\S+ /, ''), 'sender_domain');
    }
    const sendingDomain = verdict.sendingDomain;
    const paused = sendingDomain ? gate.pausedReason(sendingDomain) : undefined;
    if (paused) throw new HttpError(423, 'domain_paused', paused, 'domain_paused');

    const unique = [...new Map(s.recipients.map((r) => [r.toLowerCase(), r])).values()];
    if (unique.length > config.limits.maxRecipients) {
      throw new HttpError(400, 'invalid_request', 'too many recipients', 'too_many_recipients', {
        problems: [{ field: 'to', message: `at most ${config.limits.maxRecipients} recipients in all (to, cc, bcc)` }],
      });
    }
    const rejected: Rejected[] = [];
    const recipients = unique.filter((r) => {
      if (!gate.isSuppressed(sendingDomain ?? '', r)) return true;
      rejected.push({ recipient: r, reason: 'suppressed' });
      return false;
    });
    if (recipients.length === 0) {
      throw new HttpError(400, 'all_recipients_rejected', 'every recipient is suppressed; nothing was queued', 'suppressed', { body: { rejected } });
    }

    const id = newQueueId();
    const now = new Date();
    const message = await s.message(id, now);
    const filter = new MessageFilter();
    const parts = [...filter.push(message), ...filter.end()];
    if (filter.hasNul) throw new HttpError(400, 'invalid_message', 'the message contains NUL bytes', 'invalid_message', { problems: [{ field: 'message', message: 'must not contain NUL bytes' }] });
    let prefix = buildReceivedHeader({
      queueId: id,
      hostname: config.hostname,
      helo: undefined,
      clientAddress: s.remoteAddress,
      protocol: 'HTTP',
      recipient: recipients.length === 1 ? recipients[0] : undefined,
      tlsVersion: undefined,
      now,
    });
    if (!s.composed && !filter.headerInfo?.hasMessageId) prefix += buildMessageIdHeader(id, config.hostname);
    if (!s.composed && !filter.headerInfo?.hasDate) prefix += buildDateHeader(now);
    const head = Buffer.from(prefix, 'latin1');
    const size = head.length + parts.reduce((n, p) => n + p.length, 0);
    if (size > config.limits.maxMessageSize) {
      throw new HttpError(413, 'message_too_big', `the message is ${size} bytes; the limit is ${config.limits.maxMessageSize}`, 'message_too_big');
    }

    const incoming = spool.newMessage(id);
    try {
      await incoming.write(head);
      for (const p of parts) await incoming.write(p);
      const fromDomain = headerFromDomain(filter.headerInfo?.fromHeader);
      await spool.commit(incoming, {
        from: s.from,
        recipients: recipients.map((address) => ({ address, status: 'pending' as const })),
        createdAt: now.getTime(),
        attempts: 0,
        nextAttemptAt: now.getTime(),
        ...(sendingDomain ? { sendingDomain } : {}),
        ...(fromDomain ? { headerFromDomain: fromDomain } : {}),
        origin: { listener: 'http', clientAddress: s.remoteAddress, user: s.client.name },
      });
    } catch (err) {
      await incoming.discard();
      logger.error('spool commit failed', { queueId: id, listener: 'http', code: errorCode(err), error: describeError(err) });
      const code = errorCode(err);
      if (code === 'ERELAY_SPOOL_FULL' || code === 'ENOSPC' || code === 'EDQUOT') throw spoolFull(err);
      throw new HttpError(503, 'temporary_failure', 'temporary local problem, try again later', 'spool_error', { retryAfter: RETRY_AFTER_S }, { cause: err });
    }
    metrics.messagesReceived.inc({ listener: 'http' });
    metrics.bytesReceived.inc({ listener: 'http' }, incoming.size);
    if (logger.isLevelEnabled('info')) {
      logger.info('message queued', { queueId: id, listener: 'http', client: s.client.name, from: s.from, recipients: recipients.length, size: incoming.size });
    }
    return { id, rejected };
  }
}

function spoolFull(cause?: unknown): HttpError {
  return new HttpError(503, 'spool_full', 'insufficient storage, try again later', 'spool_full', { retryAfter: RETRY_AFTER_S }, cause ? { cause } : undefined);
}
