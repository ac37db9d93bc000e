import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { RelayError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseUnsubscribeToken, type UnsubscribeScope, MAX_TOKEN_LENGTH } from './unsubscribe-token.ts';

export interface UnsubscribeServerDeps {
  readonly address: string;
  readonly port: number;
  readonly key: Buffer;
  /** Whether the scope's domain (and category, when it has one) is still served by this relay. */
  readonly knows: (scope: UnsubscribeScope) => boolean;
  /** Suppresses the recipient for the scope and emits the `unsubscribed` event; resolves once durable. */
  readonly unsubscribe: (scope: UnsubscribeScope, via: 'https' | 'mailto') => Promise<void>;
  readonly logger: Logger;
}

/** RFC 8058 §3.1: the one-click POST carries exactly this form field. */
const ONE_CLICK = 'List-Unsubscribe=One-Click';
const MAX_BODY = 1024;
const PATH = /^\/u\/([^/?#]{1,900})$/;

export type UnsubscribeDecision =
  | { readonly kind: 'page'; readonly token: string }
  | { readonly kind: 'unsubscribe'; readonly scope: UnsubscribeScope }
  | { readonly kind: 'error'; readonly status: number; readonly message: string };

/**
 * What a request to the unsubscribe listener asks for. GET shows a page with a button and
 * changes nothing: mail scanners and link previews fetch every link, and must not unsubscribe
 * anyone (RFC 8058 §3.2). POST with the one-click body (from a mailbox provider) or the page's
 * form unsubscribes. Pure.
 */
export function decideUnsubscribeRequest(
  key: Buffer,
  method: string,
  url: string,
  body: string,
  knows: (scope: UnsubscribeScope) => boolean,
): UnsubscribeDecision {
  const path = url.split('?')[0] ?? '';
  const match = PATH.exec(path);
  if (!match) return { kind: 'error', status: 404, message: 'not found' };
  // tokens are base64url: an escape can only be a client's mangling
  const token = match[1]!;
  if (token.length > MAX_TOKEN_LENGTH) return { kind: 'error', status: 404, message: 'not found' };
  const scope = parseUnsubscribeToken(key, token);
  if (!scope) return { kind: 'error', status: 400, message: 'this unsubscribe link is not valid' };
  if (!knows(scope)) return { kind: 'error', status: 410, message: 'this list is no longer sent from here' };
  if (method === 'GET' || method === 'HEAD') return { kind: 'page', token };
  if (method !== 'POST') return { kind: 'error', status: 405, message: 'use POST' };
  const fields = new URLSearchParams(body);
  if (fields.get('List-Unsubscribe') !== 'One-Click') return { kind: 'error', status: 400, message: `the body must be ${ONE_CLICK}` };
  return { kind: 'unsubscribe', scope };
}

function page(token: string): string {
  // no recipient address on the page: whoever opens a forwarded link should not learn it
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>Unsubscribe</title></head><body>
<form method="post" action="/u/${token}"><input type="hidden" name="List-Unsubscribe" value="One-Click"><p>Stop receiving these messages?</p><button type="submit">Unsubscribe</button></form>
</body></html>\n`;
}

/**
 * The public one-click unsubscribe endpoint (`unsubscribe` in relay.yaml), on its own listener
 * so that the send API need not be exposed to the internet. Bodies are bounded, answers are
 * small, no request logs the recipient.
 */
export class UnsubscribeServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(deps: UnsubscribeServerDeps): Promise<UnsubscribeServer> {
    const server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => handle(deps, req, res));
    server.maxConnections = 1000;
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (err) => reject(new RelayError('ERELAY_LISTEN', `unsubscribe listener cannot listen: ${err.message}`, { cause: err })));
      server.listen(deps.port, deps.address, () => {
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : deps.port);
      });
    });
    return new UnsubscribeServer(server, port);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function handle(deps: UnsubscribeServerDeps, req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  let tooLarge = false;
  req.setEncoding('latin1');
  req.on('data', (chunk: string) => {
    if (tooLarge) return;
    body += chunk;
    if (body.length > MAX_BODY) {
      tooLarge = true;
      send(res, 413, 'text/plain', 'request body too large\n');
      req.destroy();
    }
  });
  req.on('error', () => res.destroy());
  req.on('end', () => {
    if (tooLarge) return;
    const decision = decideUnsubscribeRequest(deps.key, req.method ?? 'GET', req.url ?? '/', body, deps.knows);
    if (decision.kind === 'error') return send(res, decision.status, 'text/plain', `${decision.message}\n`);
    if (decision.kind === 'page') return send(res, 200, 'text/html; charset=utf-8', req.method === 'HEAD' ? '' : page(decision.token));
    deps.unsubscribe(decision.scope, 'https').then(
      () => send(res, 200, 'text/plain', 'unsubscribed\n'),
      (err: unknown) => {
        deps.logger.error('unsubscribe not recorded', { domain: decision.scope.domain, error: (err as Error).message });
        send(res, 503, 'text/plain', 'try again later\n');
      },
    );
  });
}

function send(res: ServerResponse, status: number, type: string, text: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) }).end(text);
}
