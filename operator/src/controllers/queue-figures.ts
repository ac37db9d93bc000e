/**
 * A relay's queue as its pods report it on /metrics (`mailrelay_queue_messages{state}`,
 * `mailrelay_queue_oldest_message_age_seconds`), for MailRelay.status.queue. Pure: parsed per
 * pod, then summed over pods (the oldest age is the largest).
 */

export interface QueueFigures {
  readonly ready: number;
  readonly deferred: number;
  readonly held: number;
  readonly oldestAgeSeconds: number;
}

const STATE_SAMPLE = /^mailrelay_queue_messages\{(?:[^}]*,)?state="(ready|deferred|held)"[^}]*\} ([0-9.eE+]+)$/;
const OLDEST_SAMPLE = /^mailrelay_queue_oldest_message_age_seconds(?:\{[^}]*\})? ([0-9.eE+]+)$/;

/** One pod's figures; undefined when the text has none of them (not a relay, or an older one). */
export function parseQueueFigures(text: string): QueueFigures | undefined {
  const counts = { ready: 0, deferred: 0, held: 0 };
  let oldest = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('mailrelay_queue_')) continue;
    const state = STATE_SAMPLE.exec(line);
    if (state) {
      const value = Number(state[2]);
      if (Number.isFinite(value) && value >= 0) counts[state[1] as keyof typeof counts] = Math.round(value);
      seen = true;
      continue;
    }
    const age = OLDEST_SAMPLE.exec(line);
    if (age) {
      const value = Number(age[1]);
      if (Number.isFinite(value) && value >= 0) oldest = Math.floor(value);
      seen = true;
    }
  }
  return seen ? { ...counts, oldestAgeSeconds: oldest } : undefined;
}

export function sumQueueFigures(a: QueueFigures, b: QueueFigures): QueueFigures {
  return {
    ready: a.ready + b.ready,
    deferred: a.deferred + b.deferred,
    held: a.held + b.held,
    oldestAgeSeconds: Math.max(a.oldestAgeSeconds, b.oldestAgeSeconds),
  };
}

/**
 * Whether the figures moved enough to write status again: any count, or the oldest age by a
 * minute or more (it grows by itself every second while anything is queued).
 */
export function queueFiguresChanged(before: QueueFigures | undefined, after: QueueFigures): boolean {
  if (!before) return true;
  return (
    before.ready !== after.ready ||
    before.deferred !== after.deferred ||
    before.held !== after.held ||
    Math.floor(before.oldestAgeSeconds / 60) !== Math.floor(after.oldestAgeSeconds / 60) ||
    (before.oldestAgeSeconds === 0) !== (after.oldestAgeSeconds === 0)
  );
}

/**
 * The warning for a MailRelay deleted with mail still queued, from the last poll's figures; none
 * when its pods reported an empty queue (or never answered). Its spool claims are kept
 * (persistentVolumeClaimRetentionPolicy Retain), so the warning says where the mail is.
 */
export function describeRetainedQueue(relay: string, figures: QueueFigures | undefined): string | undefined {
  const total = figures ? figures.ready + figures.deferred + figures.held : 0;
  if (!figures || total === 0) return undefined;
  return `MailRelay ${relay} deleted with ${total} messages queued at the last poll (ready ${figures.ready}, deferred ${figures.deferred}, held ${figures.held}): its spool claims spool-${relay}-N are kept; re-create the MailRelay to deliver them, or delete the claims to discard them`;
}
