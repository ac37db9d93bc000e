import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load-config.ts';
import { describeError } from '../errors.ts';
import { adminRequest, type AdminEndpoint, type AdminResponse } from './admin-client.ts';
import { ADMIN_ACTIONS, type AdminAction } from './admin-server.ts';
import { LIST_HEADER, formatListEntry, formatListFooter, formatShow } from './format-queue.ts';
import type { MessageView } from './message-view.ts';
import { MAX_PAGE, QUEUE_ID } from './queue-filter.ts';

export const QUEUE_HELP = `mail-relay queue — look at and act on a running relay's queue (like Postfix's mailq and postsuper).

Usage:
  mail-relay queue list [FILTERS] [--json]
  mail-relay queue show ID [--json | --body]
  mail-relay queue retry|hold|release|delete|bounce ID...
  mail-relay queue retry|hold|release|delete|bounce --all-matching FILTERS [--limit N]

Every command needs the admin socket: --config relay.yaml (its admin.socket, default
<queue.dir>/admin.sock; relay.yaml must have the admin key) or --socket PATH. Run it as the
relay's own user, e.g. kubectl exec POD -- mail-relay queue list --config /etc/mail-relay/relay.yaml

Commands:
  list        every queued message: id (* in a delivery attempt, ! held), size, age, sender,
              and each pending recipient with its last reply                  (mailq)
  show ID     one message: state, attempts, next attempt, expiry, every recipient
  retry       make due now                                               (postqueue -i ID)
  hold        keep from delivery until released; survives restarts     (postsuper -h)
  release     lift a hold and make due now                              (postsuper -H)
  delete      remove without delivering and without a DSN               (postsuper -d)
  bounce      bounce every pending recipient: the sender gets one DSN (none for the null sender)

Filters (every one given must match):
  --domain D              sending domain (or the envelope sender's domain)
  --recipient-domain D    some pending recipient at domain D
  --older-than DURATION   queued at least this long, e.g. 30m, 1h, 2d
  --state STATE           ready | deferred | held

Options:
  -c, --config FILE       relay.yaml, to find the admin socket
      --socket PATH       the admin socket itself
      --json              list: one JSON object per message per line; others: the API's JSON answer
      --body              show: write the message itself (headers and body) to stdout
      --all-matching      act on the messages matching FILTERS, at most --limit (default 100,
                          at most ${MAX_PAGE}) per run; says when more match (run it again)
      --limit N           see --all-matching
  -h, --help              this text

A message in a delivery attempt at that instant is not acted on (the relay answers 409):
try again in a moment. Exit status: 0 ok, 1 error (including a message not found or busy),
2 invalid usage.
`;

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

class UsageError extends Error {}

const FILTER_PARAMS = [
  ['domain', 'domain'],
  ['recipient-domain', 'recipientDomain'],
  ['older-than', 'minAge'],
  ['state', 'state'],
] as const;

/** `mail-relay queue ...`: returns the exit status. */
export async function runQueueCommand(argv: string[], io: Io): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\nSee mail-relay queue --help\n`);
      return 2;
    }
    io.err(`mail-relay queue: ${describeError(err)}\n`);
    return 1;
  }
}

async function run(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        socket: { type: 'string' },
        domain: { type: 'string' },
        'recipient-domain': { type: 'string' },
        'older-than': { type: 'string' },
        state: { type: 'string' },
        json: { type: 'boolean' },
        body: { type: 'boolean' },
        'all-matching': { type: 'boolean' },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(describeError(err));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(QUEUE_HELP);
    return 0;
  }
  const [command, ...ids] = positionals;
  if (!command) throw new UsageError('a command is required: list, show, retry, hold, release, delete or bounce');
  const filters = new URLSearchParams();
  for (const [option, param] of FILTER_PARAMS) if (values[option] !== undefined) filters.set(param, values[option]);
  if (values.limit !== undefined) filters.set('limit', values.limit);

  const isAction = (ADMIN_ACTIONS as readonly string[]).includes(command);
  if (command !== 'list' && command !== 'show' && !isAction) throw new UsageError(`unknown queue command: ${command}`);
  if (command === 'list' && ids.length > 0) throw new UsageError('list takes filters, not queue ids');
  if (command !== 'list' && !values['all-matching'] && [...filters.keys()].length > 0) throw new UsageError('filters and --limit go with list or --all-matching');
  if (command === 'show' && ids.length !== 1) throw new UsageError('show takes one queue id');
  if (values.body && command !== 'show') throw new UsageError('--body goes with show');
  if (values.body && values.json) throw new UsageError('--body and --json exclude each other');
  if (isAction) {
    if (values['all-matching'] && ids.length > 0) throw new UsageError('give queue ids or --all-matching, not both');
    if (!values['all-matching'] && ids.length === 0) throw new UsageError(`${command} needs queue ids or --all-matching with filters`);
    if (values['all-matching'] && ![...filters.keys()].some((k) => k !== 'limit')) throw new UsageError('--all-matching needs at least one filter');
  } else if (values['all-matching']) {
    throw new UsageError('--all-matching goes with retry, hold, release, delete or bounce');
  }
  for (const id of ids) if (!QUEUE_ID.test(id)) throw new UsageError(`not a queue id: ${id}`);

  const endpoint = findSocket(values.config, values.socket);
  try {
    return await dispatch(command, ids, endpoint, filters, values, io);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
      const hint = code === 'EACCES' ? "run this as the relay's own user" : 'is the relay running, with admin in relay.yaml?';
      throw new Error(`cannot reach the admin socket ${'socket' in endpoint ? endpoint.socket : ''} (${code}): ${hint}`, { cause: err });
    }
    throw err;
  }
}

async function dispatch(
  command: string,
  ids: string[],
  endpoint: AdminEndpoint,
  filters: URLSearchParams,
  values: { json?: boolean; body?: boolean; 'all-matching'?: boolean },
  io: Io,
): Promise<number> {
  const json = values.json === true;
  if (command === 'list') return list(endpoint, filters, json, io);
  if (command === 'show') return show(endpoint, ids[0]!, json, values.body === true, io);
  if (values['all-matching']) return actOnFilter(endpoint, command as AdminAction, filters, json, io);
  return actOnIds(endpoint, command as AdminAction, ids, json, io);
}

function findSocket(configPath: string | undefined, socket: string | undefined): AdminEndpoint {
  if (socket !== undefined && configPath !== undefined) throw new UsageError('give --config or --socket, not both');
  if (socket !== undefined) return { socket };
  if (configPath === undefined) throw new UsageError('--config FILE or --socket PATH is required');
  let config;
  try {
    config = loadConfig(configPath);
  } catch (err) {
    throw new UsageError(describeError(err));
  }
  if (!config.admin) throw new UsageError(`${configPath} has no admin key: the relay serves no admin socket (add admin: {})`);
  return { socket: config.admin.socket };
}

/** The API's refusal as one line; 400 means the request itself was wrong (exit 2). */
function failure(r: AdminResponse, what: string): Error {
  const message = typeof r.body.message === 'string' ? r.body.message : `HTTP ${r.status}`;
  return r.status === 400 ? new UsageError(message) : new Error(`${what}: ${message}`);
}

async function list(endpoint: AdminEndpoint, filters: URLSearchParams, json: boolean, io: Io): Promise<number> {
  const params = new URLSearchParams(filters);
  if (!params.has('limit')) params.set('limit', String(MAX_PAGE));
  let count = 0;
  let bytes = 0;
  if (!json) io.out(`${LIST_HEADER}\n`);
  // page by page, so neither the relay nor this process holds the whole queue
  for (;;) {
    const r = await adminRequest(endpoint, 'GET', `/v1/queue?${params}`);
    if (r.status !== 200) throw failure(r, 'list');
    const messages = r.body.messages as MessageView[];
    for (const m of messages) {
      count++;
      bytes += m.size;
      io.out(json ? `${JSON.stringify(m)}\n` : `${formatListEntry(m)}\n`);
    }
    if (typeof r.body.nextCursor !== 'string') break;
    params.set('cursor', r.body.nextCursor);
  }
  if (!json) io.out(`${formatListFooter(count, bytes)}\n`);
  return 0;
}

async function show(endpoint: AdminEndpoint, id: string, json: boolean, body: boolean, io: Io): Promise<number> {
  const r = await adminRequest(endpoint, 'GET', `/v1/queue/${id}${body ? '?body=1' : ''}`);
  if (r.status !== 200) throw failure(r, id);
  if (body) io.out(Buffer.from(r.body.body as string, 'base64').toString('latin1'));
  else io.out(json ? `${JSON.stringify(r.body)}\n` : formatShow(r.body as unknown as MessageView));
  return 0;
}

const DONE: Record<AdminAction, string> = { retry: 'due now', hold: 'held', release: 'released', delete: 'deleted', bounce: 'bounced' };

async function actOnIds(endpoint: AdminEndpoint, action: AdminAction, ids: string[], json: boolean, io: Io): Promise<number> {
  let failed = 0;
  for (const id of ids) {
    const r = action === 'delete' ? await adminRequest(endpoint, 'DELETE', `/v1/queue/${id}`) : await adminRequest(endpoint, 'POST', `/v1/queue/${id}/${action}`);
    if (r.status === 200) {
      io.out(json ? `${JSON.stringify(r.body)}\n` : `${id}: ${DONE[action]}${action === 'bounce' ? ` (${String(r.body.bounced)} recipients)` : ''}\n`);
    } else {
      failed++;
      io.err(`${id}: ${typeof r.body.message === 'string' ? r.body.message : `HTTP ${r.status}`}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

async function actOnFilter(endpoint: AdminEndpoint, action: AdminAction, filters: URLSearchParams, json: boolean, io: Io): Promise<number> {
  const r = await adminRequest(endpoint, 'POST', `/v1/queue/${action}?${filters}`);
  if (r.status !== 200) throw failure(r, action);
  if (json) {
    io.out(`${JSON.stringify(r.body)}\n`);
    return 0;
  }
  const ids = r.body.ids as string[];
  const skipped = r.body.skipped as Array<{ id: string; reason: string }>;
  io.out(`${DONE[action]}: ${ids.length} message${ids.length === 1 ? '' : 's'}\n${ids.map((id) => `  ${id}\n`).join('')}`);
  for (const s of skipped) io.err(`${s.id}: skipped (${s.reason === 'active' ? 'in a delivery attempt' : s.reason})\n`);
  if (r.body.more === true) io.out('more messages match: run the command again\n');
  return 0;
}
