import { SmtpReplyError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { FeedbackIntake } from '../reputation/feedback-processor.ts';
import { MAX_REPORT_BYTES, parseHeaderFields, UnreadableReportError } from '../reputation/mime.ts';
import { ReportRateLimit } from '../reputation/report-rate-limit.ts';
import { clientKey } from '../smtp/client-limits.ts';
import { tokenFromSubject } from './unsubscribe-headers.ts';
import { parseUnsubscribeToken, type UnsubscribeScope } from './unsubscribe-token.ts';

export interface UnsubscribeIntakeDeps {
  /** Lower case: the mailbox of `mailto:` links. */
  readonly address: string;
  readonly key: Buffer;
  readonly knows: (scope: UnsubscribeScope) => boolean;
  readonly unsubscribe: (scope: UnsubscribeScope, via: 'https' | 'mailto') => Promise<void>;
  readonly logger: Logger;
  readonly now?: () => number;
}

/**
 * The `mailto:` variant of List-Unsubscribe: mail to the unsubscribe address whose Subject is
 * `unsubscribe <token>`. Like feedback reports it arrives without AUTH, so it counts only with
 * a token the relay signed; anything else is accepted and dropped (a refusal would tell a
 * prober which tokens are good), and each client address has a budget.
 */
export class UnsubscribeIntake implements FeedbackIntake {
  private readonly perClient: ReportRateLimit;

  constructor(private readonly deps: UnsubscribeIntakeDeps) {
    this.perClient = new ReportRateLimit({ perMinute: 60, burst: 60, maxKeys: 10_000 }, deps.now);
  }

  isFeedbackAddress(address: string): boolean {
    return address.toLowerCase() === this.deps.address;
  }

  async consume(message: Buffer, _recipients: readonly string[], log: Record<string, unknown>): Promise<void> {
    const client = typeof log.remoteAddress === 'string' ? clientKey(log.remoteAddress) : 'unknown';
    if (!this.perClient.take(client)) throw new SmtpReplyError(451, '4.7.1', 'Too many unsubscribe requests from your address, try again later', 'unsubscribe_rate_limited');
    let subject: string | undefined;
    try {
      const text = message.subarray(0, MAX_REPORT_BYTES).toString('latin1');
      subject = (await parseHeaderFields(text)).get('subject')?.[0];
    } catch (err) {
      if (!(err instanceof UnreadableReportError)) throw err;
    }
    const token = subject ? tokenFromSubject(subject) : undefined;
    const scope = token ? parseUnsubscribeToken(this.deps.key, token) : undefined;
    if (!scope || !this.deps.knows(scope)) {
      this.deps.logger.info('unsubscribe mail dropped', { ...log, reason: token ? 'invalid token' : 'no token' });
      return;
    }
    await this.deps.unsubscribe(scope, 'mailto');
  }
}

/**
 * Several intakes behind the one the SMTP ingress calls: each recipient goes to the intake
 * that claims its address, and the message is consumed once by each intake claiming any.
 */
export function joinIntakes(intakes: readonly (FeedbackIntake | undefined)[]): FeedbackIntake | undefined {
  const present = intakes.filter((i): i is FeedbackIntake => i !== undefined);
  if (present.length <= 1) return present[0];
  return {
    isFeedbackAddress: (address) => present.some((i) => i.isFeedbackAddress(address)),
    async consume(message, recipients, log) {
      for (const intake of present) {
        const mine = recipients.filter((r) => intake.isFeedbackAddress(r));
        if (mine.length > 0) await intake.consume(message, mine, log);
      }
    },
  };
}
