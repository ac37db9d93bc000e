import { mkdir, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../log.ts';
import { describeError } from '../../errors.ts';
import { readIfExists, writeDurable } from '../../spool/durable-file.ts';
import { fsyncDir } from '../../spool/fs-async.ts';
import { dayOf, isDay, parseDailyResults, serializeDailyResults, type DayResults, type DomainResults } from './daily-results.ts';

/** Policy domains recorded per day at most; the rest of a day's domains go unreported. */
const MAX_DOMAINS = 10_000;
/** Distinct (result type, MX host) pairs per domain and day; more are folded into the last. */
const MAX_FAILURE_KINDS = 50;
const FLUSH_MS = 10_000;

/**
 * The MTA-STS results of each UTC day per policy domain, for TLS-RPT (RFC 8460), one file per
 * day under `dir`. Counting happens in memory and is written durably every ten seconds and at
 * stop: a crash loses at most those seconds of counts, never acknowledged mail.
 */
export class TlsReportStore {
  private readonly days = new Map<string, DayResults>();
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  static async open(dir: string, logger: Logger): Promise<TlsReportStore> {
    const store = new TlsReportStore(dir, logger);
    await mkdir(dir, { recursive: true });
    for (const name of await readdir(dir)) {
      const day = name.replace(/\.json$/, '');
      if (!name.endsWith('.json') || !isDay(day)) continue;
      const raw = await readIfExists(join(dir, name));
      const parsed = raw ? parseDailyResults(raw.toString('utf8')) : undefined;
      if (parsed && parsed.day === day) store.days.set(day, parsed.domains);
      else logger.warn('TLS-RPT results unreadable, ignored', { file: name });
    }
    store.timer = setInterval(() => void store.flush(), FLUSH_MS);
    store.timer.unref();
    return store;
  }

  private domain(now: number, domain: string): DomainResults | undefined {
    const day = dayOf(now);
    let results = this.days.get(day);
    if (!results) this.days.set(day, (results = new Map()));
    let entry = results.get(domain);
    if (!entry) {
      if (results.size >= MAX_DOMAINS) return undefined;
      results.set(domain, (entry = { success: 0, failures: [], attempts: 0, sent: false }));
    }
    this.dirty.add(day);
    return entry;
  }

  /** One session's result (`success` or an RFC 8460 result type) under `policy`. */
  record(now: number, domain: string, policy: DomainResults['policy'], result: string, mxHost: string): void {
    const entry = this.domain(now, domain);
    if (!entry) return;
    // the latest policy of the day is the one reported
    if (policy) entry.policy = policy;
    if (result === 'success') {
      entry.success++;
      return;
    }
    const same = entry.failures.find((f) => f.type === result && f.mx === mxHost);
    if (same) same.count++;
    else if (entry.failures.length < MAX_FAILURE_KINDS) entry.failures.push({ type: result, mx: mxHost, count: 1 });
    else entry.failures.at(-1)!.count++;
  }

  /** Days before the one `now` is in, oldest first. */
  completedDays(now: number): string[] {
    const today = dayOf(now);
    return [...this.days.keys()].filter((d) => d < today).sort();
  }

  results(day: string): DayResults | undefined {
    return this.days.get(day);
  }

  /** The caller changed a day's entries (attempts, sent): written at the next flush. */
  touch(day: string): void {
    this.dirty.add(day);
  }

  async drop(day: string): Promise<void> {
    this.days.delete(day);
    this.dirty.delete(day);
    await this.flushing;
    await unlink(join(this.dir, `${day}.json`)).catch(() => undefined);
    await fsyncDir(this.dir).catch(() => undefined);
  }

  /** Writes the changed days durably. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      for (const day of [...this.dirty]) {
        const results = this.days.get(day);
        this.dirty.delete(day);
        if (!results) continue;
        try {
          await writeDurable(join(this.dir, `${day}.json`), serializeDailyResults(day, results));
        } catch (err) {
          this.dirty.add(day);
          this.logger.warn('TLS-RPT results not stored', { day, error: describeError(err) });
          break;
        }
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
