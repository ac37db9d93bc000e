import type { TlsRptConfig } from '../../config/schema.ts';
import type { Logger } from '../../log.ts';
import { describeError } from '../../errors.ts';
import type { CachedStsPolicy } from '../mta-sts/policy-cache.ts';
import type { PostOptions } from './post-tls-report.ts';
import { TlsReporter, type TlsReporterDeps } from './tls-reporter.ts';
import { TlsReportStore } from './tls-report-store.ts';

export interface TlsReportingDeps {
  readonly dir: string;
  readonly config: TlsRptConfig;
  /** Our host name. */
  readonly submitter: string;
  readonly txt: TlsReporterDeps['txt'];
  readonly post: PostOptions;
  readonly enqueue: TlsReporterDeps['enqueue'];
  readonly onReport: TlsReporterDeps['onReport'];
  readonly logger: Logger;
  readonly now: () => number;
}

/** TLS-RPT for the delivery engine: the results store, opened once, and the daily sender. */
export class TlsReporting {
  private readonly store: Promise<TlsReportStore | undefined>;
  private reporter: TlsReporter | undefined;

  constructor(private readonly deps: TlsReportingDeps) {
    this.store = TlsReportStore.open(deps.dir, deps.logger).catch((err: unknown) => {
      deps.logger.error('TLS-RPT results cannot be kept', { error: describeError(err) });
      return undefined;
    });
  }

  start(): void {
    void this.store.then((store) => {
      if (!store) return;
      const { config } = this.deps;
      this.reporter = new TlsReporter({ ...this.deps, store, organization: config.organization, contact: config.contact, from: config.from });
      this.reporter.start();
    });
  }

  /** One session's result under a policy domain's policy (undefined: none could be fetched). */
  record(domain: string, policy: CachedStsPolicy | undefined, result: string, mxHost: string): void {
    const now = this.deps.now();
    const ref = policy ? { id: policy.id, text: policy.text, mx: policy.policy.mx } : undefined;
    void this.store.then((store) => store?.record(now, domain, ref, result, mxHost));
  }

  /** Sends the reports of the days before `now` (the hourly round, or an operator asking now). */
  async sendCompleted(now = this.deps.now()): Promise<{ sent: number; failed: number }> {
    await this.store;
    return this.reporter ? this.reporter.sendCompleted(now) : { sent: 0, failed: 0 };
  }

  async stop(): Promise<void> {
    await this.reporter?.stop();
    await (await this.store)?.close();
  }
}
