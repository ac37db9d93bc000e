import { join } from 'node:path';
import { DurableMap } from '../api/durable-map.ts';
import type { Logger } from '../log.ts';
import { describeError } from '../errors.ts';
import { DAY_MS } from './rolling-counters.ts';
import { CATEGORY_NAME } from '../config/schema.ts';

export type FeedbackKind = 'bounce' | 'complaint';

/** What the relay remembers of one recipient of one message it handed over for delivery. */
export interface SentRecord {
  readonly domain: string;
  /** Lower case; absent for a report that could not be tied to one recipient. */
  readonly recipient?: string;
  /** The feedback already counted for this recipient of this message. */
  readonly counted?: readonly FeedbackKind[];
  /** The message's category as submitted, so feedback counts in the category it was sent in. */
  readonly category?: string;
}

/** A message's recipient as delivery numbered it (its index in the message's recipients). */
export interface SentRef {
  readonly queueId: string;
  /** The recipient's index, or `*` for a report about the message as a whole. */
  readonly index: number | '*';
}

const FILE = 'sent.jsonl';
/** About 200 bytes each in memory: the recipients of a busy day, within a few tens of MiB. */
export const LEDGER_MAX_ENTRIES = 200_000;
/** The highest recipient index looked up for a message without VERP (limits.maxRecipients is smaller in practice). */
const MAX_INDEX_PROBED = 1000;

function isRecord(v: unknown): v is SentRecord {
  const r = v as SentRecord;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof r.domain === 'string' &&
    (r.recipient === undefined || typeof r.recipient === 'string') &&
    (r.counted === undefined || (Array.isArray(r.counted) && r.counted.every((k) => k === 'bounce' || k === 'complaint'))) &&
    (r.category === undefined || (typeof r.category === 'string' && CATEGORY_NAME.test(r.category)))
  );
}

function keyOf(ref: SentRef): string {
  return `${ref.queueId.toLowerCase()}.${ref.index}`;
}

/**
 * The recipients the relay sent to within the reputation window, and which bounce or complaint
 * was counted for each, in `<queue.dir>/reputation/sent.jsonl` (a DurableMap). Feedback counts
 * only for a message recorded here (or proven ours by a signed VERP address), at most once per
 * kind per recipient, across restarts; the recipient to suppress comes from here, not from the
 * report. Sends are recorded behind the delivery (not awaited): a crash just after can forget
 * one, and a report about it then counts nothing, which is the safe side.
 */
export class FeedbackLedger {
  private constructor(
    private readonly map: DurableMap<SentRecord>,
    private readonly logger: Logger,
  ) {}

  static async open(dir: string, logger: Logger, now: () => number): Promise<FeedbackLedger> {
    const map = await DurableMap.open<SentRecord>(join(dir, FILE), {
      retentionMs: DAY_MS,
      maxEntries: LEDGER_MAX_ENTRIES,
      isValue: isRecord,
      now,
      onCompactionError: (err) => logger.error('feedback ledger compaction failed', { error: describeError(err) }),
    });
    return new FeedbackLedger(map, logger);
  }

  /** Notes a recipient being handed a message; a retry of one already noted writes nothing. */
  recordSent(queueId: string, index: number, domain: string, recipient: string, category?: string): void {
    const ref = { queueId, index };
    const known = this.map.get(keyOf(ref));
    const to = recipient.toLowerCase();
    if (known && known.domain === domain && known.recipient === to && known.category === category) return;
    this.map.set(keyOf(ref), { domain, recipient: to, ...(category !== undefined ? { category } : {}) }).catch((err: unknown) => {
      this.logger.error('sent recipient not recorded', { queueId, error: describeError(err) });
    });
  }

  get(ref: SentRef): SentRecord | undefined {
    return this.map.get(keyOf(ref));
  }

  /** Every recorded recipient of a message, with its index. */
  recipientsOf(queueId: string): Array<{ index: number; record: SentRecord }> {
    const out: Array<{ index: number; record: SentRecord }> = [];
    for (let index = 0; index < MAX_INDEX_PROBED; index++) {
      const record = this.get({ queueId, index });
      if (record) out.push({ index, record });
    }
    return out;
  }

  counted(ref: SentRef, kind: FeedbackKind): boolean {
    return this.get(ref)?.counted?.includes(kind) ?? false;
  }

  /**
   * Marks `kind` counted for the recipient; resolves once durable. The mark is in memory at
   * once, so a copy of the report arriving meanwhile sees it.
   */
  markCounted(ref: SentRef, kind: FeedbackKind, fallback: SentRecord): Promise<void> {
    const known = this.get(ref) ?? fallback;
    return this.map.set(keyOf(ref), { ...known, counted: [...(known.counted ?? []), kind] });
  }

  close(): Promise<void> {
    return this.map.close();
  }
}
