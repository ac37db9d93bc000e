import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AdminConfig, RelayConfig } from '../config/schema.ts';
import { readSecretFile } from '../config/load-config.ts';
import type { DeliveryEngine } from '../delivery/delivery-engine.ts';
import { HttpError, RelayError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ReputationService } from '../reputation/reputation-service.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import { queueStateOf, type Spool } from '../spool/spool.ts';
import type { SpoolEntry } from '../spool/types.ts';
import { AdminToken } from './admin-token.ts';
import { parseDrainRequest } from './drain-request.ts';
import { Drainer } from './drainer.ts';
import { HANDOFF_CONTENT_TYPE } from './handoff-wire.ts';
import { loadOriginId } from './origin-id.ts';
import { QueueImporter } from './queue-import.ts';
import { routeDomainAdmin } from './domain-routes.ts';
import { buildMessageView } from './message-view.ts';
import { QUEUE_ID, isEmptyFilter, matchesFilter, parseQueueQuery, type Problem } from './queue-filter.ts';

export interface AdminServerDeps {
  readonly config: RelayConfig;
  readonly admin: AdminConfig;
  readonly spool: Spool;
  readonly delivery: DeliveryEngine;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  /** For the domain routes (relay-wide pause and resume); without it they answer 404. */
  readonly reputation?: ReputationService;
  readonly now?: () => number;
  /**
   * For a drain (`POST /v1/drain`): takes the pod out of the Service (not ready), closes the
   * SMTP and HTTP listeners `quiesceMs` later once their sessions finished, and stops delivery.
   */
  readonly stopIntake?: (quiesceMs: number) => Promise<void>;
  /**
   * Ends the process so that it starts again (a drain cancelled: the pod stays after all, and
   * its listeners are closed for good). The container's restart policy brings it back.
   */
  readonly restart?: () => void;
}

/** The largest `POST /v1/drain` body read. */
const MAX_DRAIN_BODY = 64 * 1024;
/** The largest request body: the operator's relay-wide figures for every domain of a relay. */
const MAX_REQUEST_BODY = 2 * 2 ** 20;

export const ADMIN_ACTIONS = ['retry', 'hold', 'release', 'delete', 'bounce'] as const;
export type AdminAction = (typeof ADMIN_ACTIONS)[number];

/** The reply in the DSN of `queue bounce`: 5.0.0 (other permanent), so the sender knows it is final. */
const BOUNCE_REPLY = '550 5.0.0 Message bounced by the relay administrator';

type Via = 'socket' | 'tcp';
type Result = { readonly status: number; readonly body: unknown };

/**
 * The queue admin API (README "Queue administration") on node:http: a Unix socket whose file
 * mode (0600) is the authentication, and optionally a TCP listener that requires the bearer
 * token of `admin.tokenFile`. A message that a delivery attempt holds at that instant is not
 * waited for: the action answers 409 `active`, to be retried (attempts can last minutes).
 * Every change is fsynced in the spool before the answer.
 */
export class AdminServer {
  private readonly socketServer: Server;
  private readonly tcpServer: Server | undefined;
  private readonly token: AdminToken | undefined;
  private readonly rawToken: string | undefined;
  private readonly now: () => number;
  private socketBound = false;
  private importer: QueueImporter | undefined;
  private drainer: Drainer | undefined;
  private importing = 0;

  private constructor(private readonly deps: AdminServerDeps) {
    this.now = deps.now ?? Date.now;
    this.socketServer = this.server('socket');
    if (deps.admin.tcp) {
      const token = readSecretFile(deps.admin.tcp.tokenFile).trim();
      if (token.length < 16) throw new RelayError('ERELAY_CONFIG_INVALID', `${deps.admin.tcp.tokenFile}: admin.tokenFile must hold a token of at least 16 characters`);
      this.token = new AdminToken(token);
      this.rawToken = token;
      this.tcpServer = this.server('tcp');
      // one operator drains at a time; unauthenticated clients must not hold many sockets
      this.tcpServer.maxConnections = 32;
    }
  }

  static async start(deps: AdminServerDeps): Promise<AdminServer> {
    const server = new AdminServer(deps);
    try {
      await server.openHandoff();
      await server.listen();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  /** Port of the TCP listener, when there is one. */
  tcpPort: number | undefined;

  private server(via: Via): Server {
    const server = createServer({ requestTimeout: 60_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.handle(req, res, via).catch((err: unknown) => {
        this.deps.logger.error('admin request failed', { error: describeError(err) });
        if (!res.headersSent) send(res, { status: 500, body: { error: 'internal', message: 'internal error' } });
        else res.destroy();
      });
    });
    server.on('clientError', (_err, socket) => {
      if (socket.writable && !socket.writableEnded) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    return server;
  }

  private async listen(): Promise<void> {
    const path = this.deps.admin.socket;
    // The spool lock is held, so no other relay serves this socket: a file left there is stale.
    const stale = await lstat(path).catch(() => undefined);
    if (stale && !stale.isSocket()) throw new RelayError('ERELAY_LISTEN', `admin socket ${path} exists and is not a socket`);
    if (stale) await unlink(path);
    // Bound with umask 0177, so that the socket is 0600 from its first instant, not after a chmod.
    // The bind is synchronous in listen(), so no other file of the process is made meanwhile.
    await listenOn(
      this.socketServer,
      (s) => {
        const umask = process.umask(0o177);
        try {
          s.listen(path);
        } finally {
          process.umask(umask);
        }
      },
      `admin socket ${path}`,
    );
    this.socketBound = true;
    await chmod(path, 0o600);
    const tcp = this.deps.admin.tcp;
    if (tcp && this.tcpServer) {
      await listenOn(this.tcpServer, (s) => s.listen(tcp.port, tcp.address), `admin ${tcp.address}:${tcp.port}`);
      const address = this.tcpServer.address();
      this.tcpPort = typeof address === 'object' && address ? address.port : tcp.port;
    }
    this.deps.logger.info('admin API listening', { socket: path, ...(this.tcpPort !== undefined ? { port: this.tcpPort } : {}) });
  }

  /** The drain's two sides: the importer for peers that drain here, the drainer for this pod's own drain. */
  private async openHandoff(): Promise<void> {
    const { config, spool, logger, metrics } = this.deps;
    const origin = await loadOriginId(config.queue.dir);
    this.importer = await QueueImporter.open({ spool, dir: config.queue.dir, self: origin, maxSize: config.limits.maxMessageSize, logger });
    this.drainer = new Drainer({
      spool,
      logger,
      origin,
      ownToken: this.rawToken,
      stopIntake: this.deps.stopIntake ?? (() => Promise.resolve()),
      importing: () => this.importing,
      onHandedOff: (n) => metrics.queueHandoffs.inc({ direction: 'out' }, n),
    });
  }

  /** Stops a drain in progress, then the listeners. */
  async close(): Promise<void> {
    await this.drainer?.stop();
    const stop = (s: Server) =>
      new Promise<void>((resolve) => {
        if (!s.listening) return resolve();
        s.close(() => resolve());
        s.closeAllConnections();
      });
    await Promise.all([stop(this.socketServer), ...(this.tcpServer ? [stop(this.tcpServer)] : [])]);
    if (this.socketBound) await unlink(this.deps.admin.socket).catch(() => undefined);
    await this.importer?.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse, via: Via): Promise<void> {
    if (via === 'tcp' && !this.token!.accepts(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mail-relay admin"');
      return send(res, { status: 401, body: { error: 'unauthorized', message: 'a valid bearer token is required' } });
    }
    try {
      send(res, await this.route(req, via));
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      send(res, { status: err.status, body: { error: err.error, message: err.message, ...(err.extra.problems ? { problems: err.extra.problems } : {}) } });
    }
  }

  private async route(req: IncomingMessage, via: Via): Promise<Result> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
    } catch (err) {
      throw new HttpError(400, 'bad_request', 'the request target is not a URL', 'admin', {}, { cause: err });
    }
    const parts = url.pathname.split('/');
    const method = req.method ?? '';
    if (url.pathname === '/v1/drain') {
      if (method === 'POST') return this.startDrain(req);
      if (method === 'DELETE') return this.cancelDrain();
      return only(method, 'GET', () => ({ status: 200, body: this.drainer!.status() }));
    }
    if (url.pathname === '/v1/queue/import') return only(method, 'POST', () => this.importFrames(req));
    if (parts[1] === 'v1' && (parts[2] === 'domains' || parts[2] === 'reputation') && this.deps.reputation) {
      return routeDomainAdmin(this.deps.reputation, req.method ?? '', parts, () => readJson(req));
    }
    if (parts[1] !== 'v1' || parts[2] !== 'queue' || parts.length > 5) throw notFound();
    const id = parts[3];
    const action = parts[4];
    if (id === undefined || (id === '' && action === undefined)) {
      return only(method, 'GET', () => this.list(url.searchParams));
    }
    if ((ADMIN_ACTIONS as readonly string[]).includes(id) && action === undefined) {
      return only(method, 'POST', () => this.actOnFilter(id as AdminAction, url.searchParams, via));
    }
    if (!QUEUE_ID.test(id)) throw new HttpError(400, 'bad_id', 'a queue id is 16 characters 0-9 A-Z', 'admin');
    if (action === undefined) {
      if (method === 'DELETE') return this.actOne('delete', id, via, url.searchParams);
      return only(method, 'GET', () => this.show(id, url.searchParams, via));
    }
    if (!(ADMIN_ACTIONS as readonly string[]).includes(action) || action === 'delete') throw notFound();
    return only(method, 'POST', () => this.actOne(action as AdminAction, id, via, url.searchParams));
  }

  private async startDrain(req: IncomingMessage): Promise<Result> {
    let value: unknown;
    try {
      value = JSON.parse((await readBody(req, MAX_DRAIN_BODY)).toString('utf8'));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, 'bad_request', 'the body is not JSON', 'admin', {}, { cause: err });
    }
    const { request, problems } = parseDrainRequest(value);
    if (!request) throw badQuery(problems);
    if (!this.deps.stopIntake) throw new HttpError(409, 'no_drain', 'this relay cannot drain', 'admin');
    if (request.targets.some((t) => !t.token) && !this.rawToken) {
      throw badQuery([{ field: 'targets', message: 'a token is required for each target: this relay has no admin token of its own' }]);
    }
    return { status: 202, body: this.drainer!.start(request, this.now()) };
  }

  /** A pod kept after all: one that started draining restarts (it comes back with what it still queues). */
  private cancelDrain(): Result {
    if (!this.drainer!.active) return { status: 200, body: { restarting: false } };
    if (!this.deps.restart) throw new HttpError(409, 'no_restart', 'this relay cannot restart itself; restart the process', 'admin');
    this.deps.logger.warn('drain cancelled: restarting', { left: this.deps.spool.size });
    // answered first: the restart closes this listener
    setImmediate(this.deps.restart);
    return { status: 202, body: { restarting: true } };
  }

  /**
   * Messages handed over by a draining peer (handoff-wire.ts). Refused while this pod drains
   * itself: whatever it took now would be left on a pod about to be removed.
   */
  private async importFrames(req: IncomingMessage): Promise<Result> {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== HANDOFF_CONTENT_TYPE) throw new HttpError(415, 'unsupported_media_type', `send ${HANDOFF_CONTENT_TYPE}`, 'admin');
    if (this.drainer!.active) throw new HttpError(409, 'draining', 'this pod is draining itself and takes no messages', 'admin');
    this.importing++;
    try {
      const imported = await this.importer!.importRequest(req);
      const fresh = imported.filter((m) => !m.duplicate).length;
      if (fresh > 0) this.deps.metrics.queueHandoffs.inc({ direction: 'in' }, fresh);
      this.deps.delivery.wake();
      return { status: 200, body: { imported } };
    } catch (err) {
      if (err instanceof HttpError) throw err;
      const code = err instanceof RelayError ? err.code : undefined;
      if (code === 'ERELAY_SPOOL_FULL') throw new HttpError(507, 'spool_full', 'the spool file system is full', 'admin', {}, { cause: err });
      if (code === 'ERELAY_SPOOL_IO' || code === 'ERELAY_SPOOL_CLOSED') throw new HttpError(503, 'spool_unavailable', describeError(err), 'admin', {}, { cause: err });
      if (code === 'ERELAY_HANDOFF_INVALID') throw new HttpError(400, 'bad_frame', describeError(err), 'admin', {}, { cause: err });
      throw err;
    } finally {
      this.importing--;
    }
  }

  private async list(params: URLSearchParams): Promise<Result> {
    const { query, problems } = parseQueueQuery(params);
    if (problems.length > 0) throw badQuery(problems);
    const now = this.now();
    const { entries, more } = await this.deps.spool.page((e) => matchesFilter(e, query.filter, now), query.limit, query.cursor);
    const messages = entries.map((e) => buildMessageView(e, now, this.deps.config.queue.maxAge));
    return { status: 200, body: { messages, ...(more ? { nextCursor: entries.at(-1)!.meta.id } : {}) } };
  }

  private async show(id: string, params: URLSearchParams, via: Via): Promise<Result> {
    const withBody = params.get('body');
    const unknown = [...params.keys()].filter((k) => k !== 'body');
    if (unknown.length > 0 || (withBody !== null && withBody !== '1')) {
      throw badQuery([...unknown.map((field) => ({ field, message: 'unknown parameter' })), ...(withBody !== null && withBody !== '1' ? [{ field: 'body', message: 'must be 1' }] : [])]);
    }
    if (withBody && via !== 'socket') throw new HttpError(403, 'body_socket_only', 'message bodies are served over the admin socket only', 'admin');
    const entry = this.deps.spool.get(id);
    if (!entry) throw notQueued(id);
    const view = buildMessageView(entry, this.now(), this.deps.config.queue.maxAge);
    if (!withBody) return { status: 200, body: view };
    const body = await this.deps.spool.readBody(entry);
    return { status: 200, body: { ...view, body: body.toString('base64') } };
  }

  private async actOne(action: AdminAction, id: string, via: Via, params: URLSearchParams): Promise<Result> {
    if ([...params.keys()].length > 0) throw badQuery([...new Set(params.keys())].map((field) => ({ field, message: 'unknown parameter' })));
    const outcome = await this.apply(action, id, via);
    if (outcome === 'missing') throw notQueued(id);
    if (outcome === 'active') throw new HttpError(409, 'active', `message ${id} is being delivered right now; try again in a moment`, 'admin');
    if (outcome === 'held') throw new HttpError(409, 'held', `message ${id} is on hold; release it to make it due`, 'admin');
    return { status: 200, body: { id, action, ...outcome } };
  }

  /**
   * The action on at most `limit` messages that match a filter (at least one filter is
   * required) and that the action would change, so that running it again goes on to the next
   * ones: hold takes messages not held yet, release held ones, retry deferred ones.
   */
  private async actOnFilter(action: AdminAction, params: URLSearchParams, via: Via): Promise<Result> {
    const { query, problems } = parseQueueQuery(params);
    if (query.cursor !== undefined) problems.push({ field: 'cursor', message: 'only lists page; run the action again for more' });
    if (problems.length === 0 && isEmptyFilter(query.filter)) {
      problems.push({ field: 'domain', message: 'give at least one filter (domain, recipientDomain, minAge, state)' });
    }
    if (problems.length > 0) throw badQuery(problems);
    const now = this.now();
    const { entries, more } = await this.deps.spool.page((e) => !e.leased && changes(action, e, now) && matchesFilter(e, query.filter, now), query.limit);
    const done: string[] = [];
    const skipped: Array<{ id: string; reason: string }> = [];
    // concurrently, so that one group commit covers many of their records
    await Promise.all(
      entries.map(async (e: SpoolEntry) => {
        const id = e.meta.id;
        const outcome = await this.apply(action, id, via);
        if (typeof outcome === 'object') done.push(id);
        else skipped.push({ id, reason: outcome });
      }),
    );
    done.sort();
    return { status: 200, body: { action, count: done.length, ids: done, skipped, more } };
  }

  private async apply(action: AdminAction, id: string, via: Via): Promise<Record<string, unknown> | 'missing' | 'active' | 'held'> {
    const { spool, delivery, metrics, logger } = this.deps;
    let result: Record<string, unknown>;
    if (action === 'bounce') {
      const bounced = await delivery.bounceNow(id, BOUNCE_REPLY);
      if (bounced === undefined) return 'missing';
      if (bounced === 'leased') return 'active';
      result = bounced;
    } else {
      const entry = spool.claim(id);
      if (entry === undefined) return 'missing';
      if (entry === 'leased') return 'active';
      if (action === 'delete') {
        await spool.removeClaimed(entry);
        result = { deleted: true };
      } else if (action === 'hold') {
        await spool.writeAdminState(entry, { adminHold: true });
        result = { adminHold: true };
      } else if (action === 'retry' && entry.meta.adminHold) {
        spool.release(id);
        return 'held';
      } else {
        // retry and release: due now
        await spool.writeAdminState(entry, { adminHold: false, nextAttemptAt: this.now() });
        delivery.wake();
        result = { adminHold: false, due: true };
      }
    }
    metrics.queueAdminActions.inc({ action });
    logger.info('queue admin action', { action, queueId: id, via });
    return result;
  }
}

function changes(action: AdminAction, entry: SpoolEntry, now: number): boolean {
  if (action === 'hold') return entry.meta.adminHold !== true;
  if (action === 'release') return queueStateOf(entry, now) === 'held';
  if (action === 'retry') return queueStateOf(entry, now) === 'deferred';
  return true;
}

function send(res: ServerResponse, result: Result): void {
  const text = JSON.stringify(result.body);
  res.writeHead(result.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

function only(method: string, allowed: string, run: () => Result | Promise<Result>): Result | Promise<Result> {
  if (method !== allowed) throw new HttpError(405, 'method_not_allowed', `use ${allowed} here`, 'admin');
  return run();
}

function notFound(): HttpError {
  return new HttpError(404, 'not_found', 'no such route; see mail-relay queue --help', 'admin');
}

function notQueued(id: string): HttpError {
  return new HttpError(404, 'not_queued', `message ${id} is not in the queue`, 'admin');
}

function badQuery(problems: Problem[]): HttpError {
  return new HttpError(400, 'bad_request', problems.map((p) => `${p.field}: ${p.message}`).join('; '), 'admin', { problems });
}

/** A request body of at most `max` bytes (413 beyond). */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new HttpError(413, 'too_large', `the body is larger than ${max} bytes`, 'admin');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A JSON request body of at most MAX_REQUEST_BODY bytes; none is `undefined`. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req, MAX_REQUEST_BODY);
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (err) {
    throw new HttpError(400, 'bad_request', 'the body is not JSON', 'admin', {}, { cause: err });
  }
}

function listenOn(server: Server, listen: (s: Server) => void, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new RelayError('ERELAY_LISTEN', `${what} cannot listen: ${err.message}`, { cause: err }));
    server.once('error', onError);
    listen(server);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
  });
}
