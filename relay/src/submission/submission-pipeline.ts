import type { RelayConfig } from '../config/schema.ts';
import { describeError, errorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import type { SendGate } from '../reputation/send-gate.ts';
import type { IncomingMessage } from '../spool/incoming-message.ts';
import { newQueueId } from '../spool/queue-id.ts';
import type { Spool } from '../spool/spool.ts';
import { decideHeaderSenders, type HeaderSendersVerdict } from './decide-header-senders.ts';
import { decideSender, type SenderVerdict } from './decide-sender.ts';
import type { SubmissionEnvelope, Submitter } from './envelope.ts';
import { MessageFilter } from './message-filter.ts';
import { decideLabels, labelsFromHeaders, type LabelsVerdict, type MessageLabels } from './message-labels.ts';
import { refuse, type Refusal, type SubmissionOutcome } from './outcome.ts';
import { buildDateHeader, buildMessageIdHeader, buildReceivedHeader } from './trace-headers.ts';
import type { EventSink, EventSubmitter } from '../events/event-types.ts';
import { buildAcceptedEvents, buildRejectedEvents, buildSuppressedEvent, messageFacts } from '../events/build-events.ts';
import type { MessageMeta } from '../spool/types.ts';

export interface PipelineDeps {
  readonly config: RelayConfig;
  readonly spool: Spool;
  /** Paused sending domains. */
  readonly gate?: SendGate;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  /** accepted, rejected and suppressed events; `accepted` is durable before the message is acknowledged. */
  readonly events?: EventSink;
}

/** Refusals that are the relay's policy (or a pause), reported as `rejected` events; local trouble is not. */
const POLICY_REFUSALS: ReadonlySet<string> = new Set([
  'sender_domain',
  'header_sender_domain',
  'invalid_header_from',
  'header_too_long',
  'invalid_message',
  'message_too_big',
  'domain_paused',
]);

/** Who submitted, as events name them. */
function eventSubmitter(envelope: SubmissionEnvelope): EventSubmitter {
  const { submitter } = envelope;
  return {
    kind: submitter.kind,
    name: submitter.kind === 'trusted' ? null : submitter.name,
    listener: envelope.listener,
    clientAddress: envelope.clientAddress,
  };
}

/** The message as it arrives: an SMTP DATA stream, or a request's bytes. */
export type MessageBytes = AsyncIterable<Buffer> | Iterable<Buffer>;

/** Room the spool must have before a message is taken in (its size is not known yet). */
const MIN_ROOM = 64 * 1024;

/**
 * The one way a message enters the spool, whichever ingress took it: the envelope sender's
 * policy and pause, the From:/Sender: policy and the domain the message may be signed for,
 * its category, tags and metadata (the API's fields or the X-Mail-Relay-* header fields, which
 * are removed) and its category's pause, line endings and NUL bytes, the size limit, the
 * Received: line and a missing Message-ID: and Date:, and the commit. The body streams to the spool as it arrives; the outcome is
 * `accepted` only after the spool's fsync. A refused message is still read to its end (an
 * SMTP client is still sending it) but nothing more of it is kept.
 */
export class SubmissionPipeline {
  readonly domains: readonly string[];

  constructor(private readonly deps: PipelineDeps) {
    this.domains = deps.config.domains.map((d) => d.name);
  }

  /**
   * May this envelope sender be used, now? `submitter` undefined: a client not (yet) entitled
   * to relay; its sender is checked as a trusted client's would be, and no pause applies since
   * it relays nothing.
   */
  admit(sender: string, submitter: Submitter | undefined): SenderVerdict {
    const verdict = decideSender(sender, submitter ?? { kind: 'trusted' }, this.domains);
    if (!verdict.ok || !submitter || !verdict.sendingDomain) return verdict;
    const paused = this.deps.gate?.pausedReason(verdict.sendingDomain);
    if (!paused) return verdict;
    return { ok: false, refusal: { reason: 'domain_paused', text: `Sending domain ${verdict.sendingDomain} is paused: ${paused}; try again later` } };
  }

  /**
   * Takes in one message. `open` gets the queue id and arrival time (a composed message puts
   * them in its Message-ID: and Date:) and returns the message bytes.
   */
  async submit(envelope: SubmissionEnvelope, open: (ticket: { id: string; now: Date }) => MessageBytes | Promise<MessageBytes>): Promise<SubmissionOutcome> {
    const { config, spool } = this.deps;
    const id = newQueueId();
    const now = new Date();
    const source = await open({ id, now });
    let refusal: Refusal | undefined;
    const admitted = this.admit(envelope.sender, envelope.submitter);
    let labels: MessageLabels | undefined;
    if (!admitted.ok) refusal = admitted.refusal;
    else if (envelope.labels !== undefined) {
      // the API's fields are known before the message is read: decided at once
      const decided = this.labelsAdmitted(decideLabels(envelope.labels), admitted.sendingDomain);
      if (decided.ok) labels = decided.labels;
      else refusal = decided.refusal;
    }
    if (!refusal && !spool.hasRoomFor(MIN_ROOM)) refusal = { reason: 'spool_full', text: 'Insufficient system storage, try again later' };
    let incoming: IncomingMessage | undefined;
    if (!refusal) {
      try {
        incoming = spool.newMessage(id);
      } catch (err) {
        refusal = { reason: 'spool_error', text: 'Temporary local problem, try again later', cause: err };
      }
    }
    const filter = new MessageFilter();
    let senders: HeaderSendersVerdict | undefined;
    const store = async (parts: Buffer[]): Promise<void> => {
      if (refusal || parts.length === 0) return;
      if (!senders) {
        if (filter.headerInfo?.malformedField) {
          const text = 'Message has a malformed header field: a name that is not printable ASCII, or a folded line that continues no field';
          refusal = { reason: 'invalid_message', text };
          return;
        }
        senders = decideHeaderSenders(filter.headerInfo ?? { from: [], sender: [], resent: [] }, envelope.submitter, this.domains);
        if (!senders.ok) {
          refusal = senders.refusal;
          return;
        }
        if (labels === undefined) {
          // the header fields are removed either way; the API's own fields win over them
          const decided = this.labelsAdmitted(labelsFromHeaders(filter.headerInfo?.labels ?? new Map()), admitted.ok ? admitted.sendingDomain : undefined);
          if (!decided.ok) {
            refusal = decided.refusal;
            return;
          }
          labels = decided.labels;
        }
        parts = [Buffer.from(this.tracePrefix(envelope, filter, id, now), 'latin1'), ...parts];
      }
      try {
        for (const part of parts) await incoming!.write(part);
      } catch (err) {
        refusal = writeFailure(err);
      }
    };

    let received = 0;
    try {
      for await (const chunk of source) {
        received += chunk.length;
        if (refusal) continue;
        if (received > config.limits.maxMessageSize) {
          refusal = { reason: 'message_too_big', text: `Message exceeds the size limit of ${config.limits.maxMessageSize} bytes` };
          continue;
        }
        const parts = filter.push(chunk);
        if (filter.hasNul) refusal = { reason: 'invalid_message', text: 'Message contains NUL bytes' };
        else if (filter.headerTooLong) refusal = { reason: 'header_too_long', text: 'Message header block is too long' };
        else await store(parts);
      }
      if (!refusal) await store(filter.end());
      // a message whose bytes were all held (none, or an empty line only) is decided here
      if (!refusal && !senders) await store([Buffer.alloc(0)]);
    } catch (err) {
      refusal ??= { reason: 'receive_error', text: 'Error while receiving the message', cause: err };
    }
    if (refusal) {
      await incoming?.discard();
      if (refusal.reason === 'receive_error' || refusal.reason === 'spool_full' || refusal.reason === 'spool_error') {
        this.log('info', 'message not received in full', envelope, { queueId: id, reason: refusal.reason, error: describeError(refusal.cause) });
      }
      await this.refused(envelope, refusal, id);
      return { accepted: false, refusal };
    }
    const verdict = senders as Extract<HeaderSendersVerdict, { ok: true }>;
    return this.commit(envelope, incoming!, admitted.ok ? admitted.sendingDomain : undefined, verdict, labels ?? {}, now, filter.headerInfo?.messageId);
  }

  /** Well-formed labels, and a category that is not paused (refused as a domain pause is). */
  private labelsAdmitted(verdict: LabelsVerdict, sendingDomain: string | undefined): { ok: true; labels: MessageLabels } | { ok: false; refusal: Refusal } {
    if (!verdict.ok) {
      const text = verdict.problems.map((p) => `${p.field} ${p.message}`).join('; ');
      return { ok: false, refusal: { reason: 'invalid_labels', text: `Invalid message labels: ${text}`, problems: verdict.problems } };
    }
    const paused = sendingDomain ? this.deps.gate?.categoryPausedReason(sendingDomain, verdict.labels.category) : undefined;
    if (!paused) return verdict;
    return { ok: false, refusal: { reason: 'category_paused', text: `Category ${paused.category} of sending domain ${sendingDomain} is paused: ${paused.reason}; try again later` } };
  }


  /**
   * Reports a policy refusal as `rejected` events (an ingress calls this for refusals before
   * the message, e.g. at MAIL FROM). Only for clients entitled to relay: anyone else's
   * commands cost no disk write and reach no webhook. The event names a sending domain only
   * when the submitter may send for it, so no tenant hears of another's refused attempts.
   */
  async refused(envelope: Pick<SubmissionEnvelope, 'sender' | 'recipients' | 'listener'> & { submitter: Submitter | undefined }, refusal: Refusal, queueId?: string): Promise<void> {
    const { events } = this.deps;
    if (!events || !envelope.submitter || !POLICY_REFUSALS.has(refusal.reason)) return;
    const own = decideSender(envelope.sender, envelope.submitter, this.domains);
    const domain = own.ok ? own.sendingDomain : undefined;
    const list = buildRejectedEvents({
      key: queueId ?? newQueueId(),
      ...(queueId ? { queueId } : {}),
      ...(domain ? { domain } : {}),
      recipients: envelope.recipients,
      sender: envelope.sender,
      reason: refusal.reason,
      text: refusal.text,
      listener: envelope.listener,
      time: Date.now(),
    });
    await this.emit(list.map((event) => ({ event })), envelope);
  }

  /** Reports a recipient refused because it is suppressed for its sending domain. */
  async suppressed(input: { sender: string; domain: string; recipient: string; listener: string }): Promise<void> {
    if (!this.deps.events) return;
    await this.emit([{ event: buildSuppressedEvent({ key: newQueueId(), ...input, time: Date.now() }) }], { listener: input.listener });
  }

  /** Events of refusals are on disk before the refusal is answered; a failed write is logged, the answer stands. */
  private async emit(list: Parameters<EventSink['emit']>[0], envelope: { listener: string; logFields?: Readonly<Record<string, string>> }): Promise<void> {
    try {
      await this.deps.events?.emit(list);
    } catch (err) {
      this.deps.logger.error('events not written', { listener: envelope.listener, ...envelope.logFields, error: describeError(err) });
    }
  }

  private async commit(
    envelope: SubmissionEnvelope,
    incoming: IncomingMessage,
    sendingDomain: string | undefined,
    senders: Extract<HeaderSendersVerdict, { ok: true }>,
    labels: MessageLabels,
    now: Date,
    messageId: string | undefined,
  ): Promise<SubmissionOutcome> {
    const { spool, metrics, events, gate } = this.deps;
    const createdAt = now.getTime();
    const user = envelope.submitter.kind === 'trusted' ? undefined : envelope.submitter.name;
    // RCPT TO could check only domain-wide suppressions: the category is in the header
    const suppressed = sendingDomain && labels.category && gate ? envelope.recipients.filter((r) => gate.isSuppressed(sendingDomain, r, labels.category)) : [];
    const recipients = suppressed.length === 0 ? envelope.recipients : envelope.recipients.filter((r) => !suppressed.includes(r));
    for (const recipient of suppressed) await this.suppressed({ sender: envelope.sender, domain: sendingDomain!, recipient, listener: envelope.listener });
    if (recipients.length === 0) {
      await incoming.discard();
      return refuse('recipients_suppressed', `Every recipient unsubscribed from category ${labels.category} of ${sendingDomain}`);
    }
    const meta: Omit<MessageMeta, 'id' | 'size' | 'bodyFile' | 'held'> = {
      from: envelope.sender,
      recipients: recipients.map((address) => ({ address, status: 'pending' as const })),
      createdAt,
      attempts: 0,
      nextAttemptAt: createdAt,
      ...(sendingDomain ? { sendingDomain } : {}),
      ...(senders.headerFromDomain ? { headerFromDomain: senders.headerFromDomain } : {}),
      signingDomain: senders.signingDomain ?? null,
      ...labels,
      origin: {
        listener: envelope.listener,
        clientAddress: envelope.clientAddress,
        ...(user !== undefined ? { user } : {}),
        ...(envelope.helo ? { helo: envelope.helo } : {}),
      },
      // the relay's own Message-ID: when the message had none (tracePrefix)
      messageId: messageId ?? `<${incoming.id.toLowerCase()}@${this.deps.config.hostname}>`,
    };
    const accepted = events
      ? buildAcceptedEvents(messageFacts({ ...meta, id: incoming.id, size: incoming.size, held: false }), {
          sender: envelope.sender,
          recipients,
          submitter: eventSubmitter(envelope),
          size: incoming.size,
          time: createdAt,
        })
      : [];
    try {
      // the spool's fsync and the events' run side by side: both are durable before the 250
      const results = await Promise.allSettled([spool.commit(incoming, meta), ...(accepted.length > 0 ? [events!.emit(accepted.map((event) => ({ event })))] : [])]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (err) {
      this.log('error', 'spool commit failed', envelope, { queueId: incoming.id, code: errorCode(err), error: describeError(err) });
      // an `accepted` already on disk is answered by a `rejected` for the same message
      if (accepted.length > 0) await this.emit(rejectedAfterAccepted(envelope, incoming.id, accepted[0]!.domain), envelope);
      return errorCode(err) === 'ERELAY_SPOOL_FULL'
        ? refuse('spool_full', 'Insufficient system storage, try again later', err)
        : refuse('spool_error', 'Temporary local problem, try again later', err);
    }
    metrics.messagesReceived.inc({ listener: envelope.listener });
    metrics.bytesReceived.inc({ listener: envelope.listener }, incoming.size);
    this.log('info', 'message queued', envelope, {
      queueId: incoming.id,
      ...(user !== undefined ? { user } : {}),
      from: envelope.sender,
      recipients: recipients.length,
      ...(suppressed.length > 0 ? { suppressed: suppressed.length } : {}),
      size: incoming.size,
    });
    return { accepted: true, id: incoming.id, size: incoming.size, suppressed };
  }

  /** Received: always; Message-ID: and Date: when the message lacks them (the relay is its first hop). */
  private tracePrefix(envelope: SubmissionEnvelope, filter: MessageFilter, id: string, now: Date): string {
    const { hostname } = this.deps.config;
    let prefix = buildReceivedHeader({
      queueId: id,
      hostname,
      helo: envelope.helo,
      clientAddress: envelope.clientAddress,
      protocol: envelope.protocol,
      recipient: envelope.recipients.length === 1 ? envelope.recipients[0] : undefined,
      tlsVersion: envelope.tlsVersion,
      now,
    });
    if (!filter.headerInfo?.hasMessageId) prefix += buildMessageIdHeader(id, hostname);
    if (!filter.headerInfo?.hasDate) prefix += buildDateHeader(now);
    return prefix;
  }

  private log(level: 'info' | 'error', message: string, envelope: SubmissionEnvelope, fields: Record<string, unknown>): void {
    if (!this.deps.logger.isLevelEnabled(level)) return;
    this.deps.logger.log(level, message, { listener: envelope.listener, ...envelope.logFields, ...fields });
  }
}

function rejectedAfterAccepted(envelope: SubmissionEnvelope, queueId: string, domain: string | null) {
  return buildRejectedEvents({
    key: queueId,
    queueId,
    ...(domain ? { domain } : {}),
    recipients: envelope.recipients,
    sender: envelope.sender,
    reason: 'spool_error',
    text: 'Temporary local problem, try again later',
    listener: envelope.listener,
    time: Date.now(),
  }).map((event) => ({ event }));
}

function writeFailure(err: unknown): Refusal {
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return { reason: 'spool_full', text: 'Insufficient system storage, try again later', cause: err };
  return { reason: 'spool_error', text: 'Temporary local problem, try again later', cause: err };
}
