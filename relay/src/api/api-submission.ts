import type { RelayConfig } from '../config/schema.ts';
import { HttpError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import type { Spool } from '../spool/spool.ts';
import type { SendGate } from '../reputation/send-gate.ts';
import { SubmissionPipeline } from '../submission/submission-pipeline.ts';
import type { EventSink } from '../events/event-types.ts';
import { httpReply } from '../submission/reply-codes.ts';
import type { ApiClient } from './api-tokens.ts';
import type { LabelInput } from '../submission/message-labels.ts';

export interface Submission {
  readonly client: ApiClient;
  readonly remoteAddress: string;
  /** Envelope sender. */
  readonly from: string;
  /** Envelope recipients. */
  readonly recipients: readonly string[];
  /** The message without trace headers, given the queue id and arrival time. */
  readonly message: (id: string, now: Date) => Promise<Buffer>;
  /** The request's category, tags and metadata; absent: from the message's X-Mail-Relay-* fields (raw messages). */
  readonly labels?: LabelInput;
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
  readonly events?: EventSink;
}

/**
 * The HTTP side of the submission pipeline: what only a request has (duplicate recipients,
 * the recipient limit, suppressed recipients left out and listed) is settled here; the message
 * then goes through the same pipeline as SMTP intake, and its outcome becomes the answer.
 * Throws HttpError for every refusal.
 */
export class ApiSubmission {
  private readonly pipeline: SubmissionPipeline;

  constructor(private readonly deps: SubmissionDeps) {
    this.pipeline = new SubmissionPipeline(deps);
  }

  async submit(s: Submission): Promise<Accepted> {
    const { config, gate } = this.deps;
    const submitter = { kind: 'token', name: s.client.name, allowedSenderDomains: s.client.allowedSenderDomains } as const;
    const admitted = this.pipeline.admit(s.from, submitter);
    if (!admitted.ok) {
      await this.pipeline.refused({ sender: s.from, recipients: s.recipients, listener: 'http', submitter }, admitted.refusal);
      throw httpReply(admitted.refusal);
    }

    const unique = [...new Map(s.recipients.map((r) => [r.toLowerCase(), r])).values()];
    if (unique.length > config.limits.maxRecipients) {
      throw new HttpError(400, 'invalid_request', 'too many recipients', 'too_many_recipients', {
        problems: [{ field: 'to', message: `at most ${config.limits.maxRecipients} recipients in all (to, cc, bcc)` }],
      });
    }
    const rejected: Rejected[] = [];
    const recipients = unique.filter((r) => {
      if (!gate.isSuppressed(admitted.sendingDomain ?? '', r)) return true;
      rejected.push({ recipient: r, reason: 'suppressed' });
      return false;
    });
    for (const { recipient } of rejected) await this.pipeline.suppressed({ sender: s.from, domain: admitted.sendingDomain ?? '', recipient, listener: 'http' });
    if (recipients.length === 0) {
      throw new HttpError(400, 'all_recipients_rejected', 'every recipient is suppressed; nothing was queued', 'suppressed', { body: { rejected } });
    }

    const outcome = await this.pipeline.submit(
      {
        sender: s.from,
        recipients,
        submitter,
        listener: 'http',
        clientAddress: s.remoteAddress,
        protocol: 'HTTP',
        logFields: { client: s.client.name },
        ...(s.labels ? { labels: s.labels } : {}),
      },
      async ({ id, now }) => [await s.message(id, now)],
    );
    if (!outcome.accepted) throw httpReply(outcome.refusal);
    for (const recipient of outcome.suppressed) rejected.push({ recipient, reason: 'suppressed' });
    return { id: outcome.id, rejected };
  }
}
