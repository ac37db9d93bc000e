import { isIP } from 'node:net';
import { DEFERRAL_MODES, EVENT_TYPES, type EventType, type EventsConfig, type WebhookConfig } from './schema.ts';
import { ObjectReader, join } from './reader.ts';

const WEBHOOK_NAME = /^[a-z0-9]([a-z0-9_-]{0,62})$/;

/** Loopback hosts, the only ones a plain-HTTP webhook may name (tests, a sidecar). */
function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Why a webhook URL is refused, or undefined: https anywhere, http only to loopback, no credentials in it. */
export function webhookUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be an absolute http(s) URL';
  }
  if (url.username || url.password) return 'must not carry credentials (the signature authenticates the relay)';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return isLoopback(url.hostname) ? undefined : 'http:// is allowed for loopback addresses only; use https://';
  return 'must be an http(s) URL';
}

/** `webhooks` of relay.yaml (top level or under a domain): every problem listed, names unique in the list. */
export function parseWebhooks(parent: ObjectReader, key = 'webhooks'): WebhookConfig[] {
  const { items, path } = parent.array(key);
  const names = new Set<string>();
  return items.map((item, i) => {
    const r = new ObjectReader(item, join(path, i), parent.problems);
    const name = r.string('name', { required: true, pattern: WEBHOOK_NAME, patternHint: 'must be lower case letters, digits, - or _' });
    if (names.has(name)) r.problems.add(join(r.path, 'name'), `duplicates webhook ${name}`);
    names.add(name);
    const url = r.string('url', { required: true });
    const urlProblem = url ? webhookUrlProblem(url) : undefined;
    if (urlProblem) r.problems.add(join(r.path, 'url'), urlProblem);
    const secretFile = r.string('secretFile', { required: true });
    const events: EventType[] = r.has('events')
      ? r.stringList('events', (e) => ((EVENT_TYPES as readonly string[]).includes(e) ? undefined : `must be one of ${EVENT_TYPES.join(', ')}`)).map((e) => e as EventType)
      : [...EVENT_TYPES];
    if (r.has('events') && events.length === 0) r.problems.add(join(r.path, 'events'), 'must list at least one event type (omit it for all)');
    let batch: WebhookConfig['batch'];
    if (r.has('batch')) {
      const b = r.child('batch');
      batch = { maxEvents: b.number('maxEvents', 100, { min: 1, max: 1000 }), maxDelay: b.duration('maxDelay', 1000) };
      b.done();
    } else {
      r.raw('batch');
    }
    const deferrals = r.oneOf('deferrals', DEFERRAL_MODES, 'every');
    const retryFor = r.duration('retryFor', 24 * 3_600_000);
    const timeout = r.duration('timeout', 10_000);
    if (timeout < 1) r.problems.add(join(r.path, 'timeout'), 'must be at least 1ms');
    r.done();
    return { name, url: url ?? '', secretFile, events: [...new Set(events)], ...(batch ? { batch } : {}), deferrals, retryFor, timeout };
  });
}

/** `events`: the journal's bound and the retry cap shared by every webhook. */
export function parseEvents(root: ObjectReader): EventsConfig {
  const r = root.child('events');
  const events = { maxBacklog: r.size('maxBacklog', 256 * 2 ** 20), maxRetryDelay: r.duration('maxRetryDelay', 600_000) };
  if (events.maxBacklog < 64 * 1024) r.problems.add(join(r.path, 'maxBacklog'), 'must be at least 64Ki');
  if (events.maxRetryDelay < 1) r.problems.add(join(r.path, 'maxRetryDelay'), 'must be at least 1ms');
  r.done();
  return events;
}
