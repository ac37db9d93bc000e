import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Logger } from '../../log.ts';
import { describeError } from '../../errors.ts';
import { buildTlsReport, buildTlsReportMessage } from './build-tls-report.ts';
import { parseTlsRptRecord } from './parse-tlsrpt-record.ts';
import { postTlsReport, type PostOptions } from './post-tls-report.ts';
import type { TlsReportStore } from './tls-report-store.ts';

export interface TlsReporterDeps {
  readonly store: TlsReportStore;
  /** TXT records through the relay's resolvers; 'none' for NXDOMAIN or no TXT. */
  readonly txt: (name: string) => Promise<string[][] | 'none'>;
  readonly post: PostOptions;
  /** Queues a message from the null sender through the relay's own spool. */
  readonly enqueue: (to: string, message: Buffer) => Promise<void>;
  readonly organization: string;
  readonly contact: string;
  /** From: of mailed reports. */
  readonly from: string;
  /** Our host name: the submitter in file names and headers. */
  readonly submitter: string;
  readonly logger: Logger;
  readonly now: () => number;
  readonly onReport: (result: 'sent' | 'failed' | 'no_destination') => void;
}

/** Tries to send a day's report this many times (hourly), then gives up on it. */
const MAX_ATTEMPTS = 5;
/** Results older than this are dropped, sent or not. */
const KEEP_DAYS = 3;
const RUN_EVERY_MS = 3_600_000;

/**
 * Sends each policy domain's daily TLS-RPT report (RFC 8460) once its UTC day is over: to every
 * `rua` of the domain's `_smtp._tls` TXT record, `https:` by POST and `mailto:` as a message
 * through our own spool. A day is marked sent once one destination took it, so each domain gets
 * at most one report a day; a failed round is retried on the next hourly run, with the same
 * report id, up to five times.
 */
export class TlsReporter {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: TlsReporterDeps) {}

  start(): void {
    const run = () => {
      this.running = this.sendCompleted().catch((err: unknown) => this.deps.logger.error('TLS-RPT round failed', { error: describeError(err) }));
    };
    run();
    this.timer = setInterval(run, RUN_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Sends what is due as of `now`; returns how many reports went out and how many failed. Rounds never overlap. */
  sendCompleted(now = this.deps.now()): Promise<{ sent: number; failed: number }> {
    const round = this.chain.then(() => this.round(now));
    this.chain = round.catch(() => undefined);
    return round;
  }

  private async round(now: number): Promise<{ sent: number; failed: number }> {
    const { store } = this.deps;
    let sent = 0;
    let failed = 0;
    const oldest = new Date(now - KEEP_DAYS * 86_400_000).toISOString().slice(0, 10);
    for (const day of store.completedDays(now)) {
      const results = store.results(day)!;
      for (const [domain, entry] of results) {
        if (entry.sent || entry.attempts >= MAX_ATTEMPTS) continue;
        entry.attempts++;
        store.touch(day);
        const outcome = await this.sendOne(day, domain, entry);
        if (outcome !== 'failed') entry.sent = true;
        if (outcome === 'sent') sent++;
        if (outcome === 'failed') failed++;
        this.deps.onReport(outcome);
      }
      const done = [...results.values()].every((e) => e.sent || e.attempts >= MAX_ATTEMPTS);
      if (done || day < oldest) await store.drop(day);
    }
    await store.flush();
    return { sent, failed };
  }

  private async sendOne(day: string, domain: string, entry: Parameters<typeof buildTlsReport>[0]['results']): Promise<'sent' | 'failed' | 'no_destination'> {
    const { logger } = this.deps;
    let records: string[][] | 'none';
    try {
      records = await this.deps.txt(`_smtp._tls.${domain}`);
    } catch (err) {
      logger.warn('TLS-RPT record lookup failed', { domain, day, error: describeError(err) });
      return 'failed';
    }
    const destinations = records === 'none' ? undefined : parseTlsRptRecord(records);
    if (!destinations) return 'no_destination';
    const reportId = `${day}.${domain}@${this.deps.submitter}`;
    const report = buildTlsReport({ day, domain, results: entry, organization: this.deps.organization, contact: this.deps.contact, reportId });
    const gzipped = gzipSync(JSON.stringify(report));
    let delivered = false;
    for (const destination of destinations) {
      try {
        if (destination.kind === 'https') {
          await postTlsReport(destination.url, gzipped, this.deps.post);
        } else {
          const message = buildTlsReportMessage({
            from: this.deps.from,
            to: destination.address,
            domain,
            submitter: this.deps.submitter,
            reportId,
            day,
            gzipped,
            now: new Date(this.deps.now()),
            token: randomBytes(12).toString('hex'),
          });
          await this.deps.enqueue(destination.address, message);
        }
        delivered = true;
        logger.info('TLS-RPT report sent', { domain, day, to: destination.kind === 'https' ? destination.url : destination.address });
      } catch (err) {
        logger.warn('TLS-RPT report not sent', { domain, day, kind: destination.kind, error: describeError(err) });
      }
    }
    return delivered ? 'sent' : 'failed';
  }
}
