import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HttpConfig, RelayConfig } from '../config/schema.ts';
import { HttpError, RelayError, describeError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { matchDomain } from '../mail-address.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import type { Spool } from '../spool/spool.ts';
import type { ApiClient, TokenVerifier } from './api-tokens.ts';
import type { ApiSubmission, Accepted } from './api-submission.ts';
import { BodyBudget } from './body-budget.ts';
import { composeMessage } from './compose-message.ts';
import type { IdempotencyStore, ApiResult } from './idempotency-store.ts';
import { parseMessageRequest } from './message-request.ts';
import { apiOwner, buildMessageStatus } from './message-status.ts';
import { OPENAPI } from './openapi.ts';
import { parseRawRequest } from './raw-request.ts';
import type { StatusStore } from './status-store.ts';
import type { ReputationHandlers, HttpResult } from '../reputation/http-handlers.ts';

export interface ApiServerDeps {
  readonly config: RelayConfig;
  readonly http: HttpConfig;
  readonly tokens: TokenVerifier;
  readonly submission: ApiSubmission;
  readonly idempotency: IdempotencyStore;
  readonly status: StatusStore;
  readonly spool: Spool;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  /** Reputation, resume and suppression routes (relay/src/reputation/http-handlers.ts). */
  readonly reputation: ReputationHandlers;
}

interface Request {
  readonly req: IncomingMessage;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
}

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly submits: boolean;
  readonly handle: (r: Request) => Promise<ApiResult>;
}

/** Every route served: method, OpenAPI path template, and whether a refusal counts as a rejected message. */
export const API_ROUTES = [
  { method: 'POST', path: '/v1/messages', submits: true },
  { method: 'POST', path: '/v1/messages/raw', submits: true },
  { method: 'GET', path: '/v1/messages/{id}', submits: false },
  { method: 'GET', path: '/v1/openapi.json', submits: false },
  { method: 'GET', path: '/v1/domains/{domain}/reputation', submits: false },
  { method: 'POST', path: '/v1/domains/{domain}/resume', submits: false },
  { method: 'POST', path: '/v1/domains/{domain}/categories/{category}/resume', submits: false },
  { method: 'GET', path: '/v1/suppressions', submits: false },
  { method: 'DELETE', path: '/v1/suppressions/{domain}/{recipient}', submits: false },
] as const;

/** What each path parameter may look like; anything else is no route (404). */
const PARAMS: Record<string, string> = { id: '[0-9A-Z]{16}', domain: '[^/]{1,253}', recipient: '[^/]{1,320}', category: '[^/]{1,63}' };

type KeyOf<R> = R extends { readonly method: infer M extends string; readonly path: infer P extends string } ? `${M} ${P}` : never;
type RouteKey = KeyOf<(typeof API_ROUTES)[number]>;

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** JSON and base64 overhead over the message size limit, so every message that fits can be sent. */
const BODY_OVERHEAD = 64 * 1024;
/** Bodies up to this size skip the budget below: ordinary messages never wait for large ones. */
const SMALL_BODY = 1024 * 1024;

/**
 * The HTTP send API (see openapi.ts) on node:http, with no framework in the request path.
 * Request bodies are read with a bound (413 as soon as it is passed, without buffering the
 * rest); every answer is JSON; tokens are never logged.
 */
export class ApiServer {
  readonly server: Server;
  private readonly routes: readonly Route[];
  private readonly maxBody: number;
  /** Two of the largest bodies at once (at least 64 MiB): what the API holds is bounded whatever the parallelism. */
  private readonly bodies: BodyBudget;
  private active = 0;
  private draining = false;
  private idle: Array<() => void> = [];

  constructor(private readonly deps: ApiServerDeps) {
    this.maxBody = Math.ceil((deps.config.limits.maxMessageSize * 4) / 3) + BODY_OVERHEAD;
    this.bodies = new BodyBudget(Math.max(2 * this.maxBody, 64 * 2 ** 20));
    const handlers: Record<RouteKey, Route['handle']> = {
      'POST /v1/messages': (r) => this.postMessage(r),
      'POST /v1/messages/raw': (r) => this.postRaw(r),
      'GET /v1/messages/{id}': (r) => this.getMessage(r),
      'GET /v1/openapi.json': async () => ({ status: 200, body: OPENAPI }),
      'GET /v1/domains/{domain}/reputation': (r) => this.forDomain(r, r.params.domain, () => deps.reputation.getReputation(r.params)),
      'POST /v1/domains/{domain}/resume': (r) => this.forDomain(r, r.params.domain, () => deps.reputation.resumeDomain(r.params)),
      'POST /v1/domains/{domain}/categories/{category}/resume': (r) =>
        this.forDomain(r, r.params.domain, () => deps.reputation.resumeCategory(r.params)),
      'GET /v1/suppressions': (r) => {
        const query = Object.fromEntries(new URL(r.req.url ?? '/', 'http://relay').searchParams);
        return this.forDomain(r, query.domain, () => deps.reputation.listSuppressions({}, query));
      },
      'DELETE /v1/suppressions/{domain}/{recipient}': (r) =>
        this.forDomain(r, r.params.domain, () => deps.reputation.deleteSuppression(r.params, Object.fromEntries(new URL(r.req.url ?? '/', 'http://relay').searchParams))),
    };
    this.routes = API_ROUTES.map((r) => ({
      method: r.method,
      pattern: new RegExp(`^${r.path.replace(/\{(\w+)\}/g, (_, name: string) => `(?<${name}>${PARAMS[name]})`)}$`),
      submits: r.submits,
      handle: handlers[`${r.method} ${r.path}` as RouteKey],
    }));
    this.server = createServer({ keepAliveTimeout: 10_000, requestTimeout: 120_000, headersTimeout: 30_000 }, (req, res) => {
      this.active++;
      this.handle(req, res).finally(() => {
        if (--this.active === 0) this.idle.splice(0).forEach((f) => f());
      });
    });
    this.server.maxConnections = deps.config.limits.maxConnections;
    // client resets and malformed requests end up here; node answers 400 and closes the socket
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      deps.logger.debug('http client error', { code: err.code, error: err.message });
      if (socket.writable && !socket.writableEnded) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  async listen(): Promise<number> {
    const { address, port } = this.deps.http;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(new RelayError('ERELAY_LISTEN', `http API cannot listen on ${address}:${port}: ${err.message}`, { cause: err }));
      this.server.once('error', onError);
      this.server.listen(port, address, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    const bound = this.server.address();
    return typeof bound === 'object' && bound ? bound.port : port;
  }

  /** Stops accepting; requests in progress get `graceMs` to finish (a message being spooled is answered). */
  async close(graceMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.active > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.idle.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    let submits = false;
    try {
      if (this.draining) throw new HttpError(503, 'shutting_down', 'the relay is shutting down, try another instance', 'shutting_down', { retryAfter: 1 });
      const candidates = this.routes.flatMap((route) => {
        const match = route.pattern.exec(path);
        return match ? [{ route, groups: match.groups ?? {} }] : [];
      });
      const found = candidates.find((c) => c.route.method === req.method);
      if (!found) {
        if (candidates.length === 0) throw new HttpError(404, 'no_such_route', 'no such resource', 'not_found');
        const methods = candidates.map((c) => c.route.method);
        res.setHeader('Allow', methods.join(', '));
        throw new HttpError(405, 'method_not_allowed', `use ${methods.join(' or ')}`, 'method_not_allowed');
      }
      submits = found.route.submits;
      const params = Object.fromEntries(Object.entries(found.groups).map(([k, v]) => [k, safeDecode(v)]));
      const result = await found.route.handle({ req, path, params });
      send(res, result.status, result.body);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (!(err instanceof HttpError)) {
        this.deps.logger.error('http request failed', { method: req.method, path, error: describeError(err) });
        send(res, 500, { error: 'internal_error', message: 'internal error' });
        return;
      }
      if (submits) this.deps.metrics.messagesRejected.inc({ listener: 'http', reason: err.reason });
      if (err.status >= 500 || err.status === 401) this.deps.logger.warn('http request refused', { method: req.method, path, status: err.status, error: err.error });
      if (err.extra.retryAfter !== undefined) res.setHeader('Retry-After', String(err.extra.retryAfter));
      if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="mail-relay"');
      // the rest of a request body we refuse unread is not worth reading: close after answering
      if (!req.complete) res.setHeader('Connection', 'close');
      send(res, err.status, {
        error: err.error,
        message: err.message,
        ...(err.extra.problems ? { problems: err.extra.problems } : {}),
        ...err.extra.body,
      });
    }
  }

  /** A token manages the domains it may send for (all, when its list is empty). */
  private async forDomain(r: Request, domain: string | undefined, handle: () => Promise<HttpResult>): Promise<ApiResult> {
    const client = this.authenticate(r.req);
    const name = (domain ?? '').trim().toLowerCase();
    // the same rule as sending: a token for example.com also sends as news.example.com
    if (name && client.allowedSenderDomains.length > 0 && !matchDomain(name, client.allowedSenderDomains)) {
      throw new HttpError(403, 'forbidden', `this token may not manage ${name}`, 'forbidden');
    }
    const { status, body } = await handle();
    return { status, body: body ?? {} };
  }

  private authenticate(req: IncomingMessage): ApiClient {
    const client = this.deps.tokens.verify(req.headers.authorization);
    if (!client) throw new HttpError(401, 'unauthorized', 'a valid bearer token is required', 'unauthorized');
    return client;
  }

  private postMessage(r: Request): Promise<ApiResult> {
    const { hostname } = this.deps.config;
    return this.submitting(r, (client, body) => {
      const message = parseMessageRequest(body);
      return this.deps.submission.submit({
        client,
        remoteAddress: r.req.socket.remoteAddress ?? '',
        from: message.from.address,
        recipients: [...message.to, ...message.cc, ...message.bcc].map((m) => m.address),
        message: (id, now) => composeMessage(message, { messageId: `<${id.toLowerCase()}@${hostname}>`, date: now }),
        labels: message.labels,
      });
    });
  }

  private postRaw(r: Request): Promise<ApiResult> {
    return this.submitting(r, (client, body) => {
      const raw = parseRawRequest(body);
      return this.deps.submission.submit({
        client,
        remoteAddress: r.req.socket.remoteAddress ?? '',
        from: raw.from,
        recipients: raw.to,
        message: async () => raw.message,
      });
    });
  }

  /** Authentication, the bounded JSON body, and Idempotency-Key around a submission. */
  private async submitting(r: Request, submit: (client: ApiClient, body: unknown) => Promise<Accepted>): Promise<ApiResult> {
    const client = this.authenticate(r.req);
    const keyHeader = r.req.headers['idempotency-key'];
    const key = Array.isArray(keyHeader) ? keyHeader[0] : keyHeader;
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      throw new HttpError(400, 'invalid_request', 'bad Idempotency-Key', 'invalid_request', {
        problems: [{ field: 'Idempotency-Key', message: 'must be 1-255 printable ASCII characters' }],
      });
    }
    const release = await this.reserveBody(r.req);
    try {
      const raw = await this.readBody(r.req);
      const run = async (): Promise<ApiResult> => {
        const accepted = await submit(client, parseJson(raw));
        for (const x of accepted.rejected) this.deps.metrics.messagesRejected.inc({ listener: 'http', reason: x.reason });
        return { status: 202, body: { id: accepted.id, rejected: accepted.rejected } };
      };
      if (key === undefined) return await run();
      const fingerprint = createHash('sha256').update(`${r.req.method} ${r.path}\n`).update(raw).digest('base64');
      return await this.deps.idempotency.run(client.name, key, fingerprint, run);
    } finally {
      release();
    }
  }

  /** A share of the body budget for the request's declared length (the whole bound when chunked). */
  private reserveBody(req: IncomingMessage): Promise<() => void> {
    const declared = req.headers['content-length'] === undefined ? this.maxBody : Number(req.headers['content-length']);
    // one declared past the bound is refused (413) before anything is read
    if (declared <= SMALL_BODY || declared > this.maxBody) return Promise.resolve(() => undefined);
    return this.bodies.acquire(declared);
  }

  private async getMessage(r: Request): Promise<ApiResult> {
    const client = this.authenticate(r.req);
    const id = r.params.id!;
    const live = this.deps.spool.get(id);
    if (live && apiOwner(live.meta) === client.name) return { status: 200, body: { ...buildMessageStatus(live.meta) } };
    const finished = live ? undefined : this.deps.status.get(id);
    if (finished && finished.owner === client.name) return { status: 200, body: { ...buildMessageStatus(finished) } };
    // another token's message is indistinguishable from none
    throw new HttpError(404, 'not_found', `no message ${id} sent with this token`, 'not_found');
  }

  private async readBody(req: IncomingMessage): Promise<Buffer> {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new HttpError(415, 'unsupported_media_type', 'send the request as application/json', 'invalid_request');
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.maxBody) throw tooLarge(this.maxBody);
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > this.maxBody) throw tooLarge(this.maxBody);
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof HttpError) throw err;
      // the client went away mid-body; nobody is left to answer
      throw new HttpError(400, 'request_aborted', 'the request body was cut short', 'invalid_request', {}, { cause: err });
    }
    return Buffer.concat(chunks, size);
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'request_too_large', `the request body exceeds ${limit} bytes`, 'message_too_big');
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON', 'invalid_request', {
      problems: [{ field: '', message: describeError(err) }],
    });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** A malformed %-escape is left as written; the handlers then find no such domain or recipient. */
function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
