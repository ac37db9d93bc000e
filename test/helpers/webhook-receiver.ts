import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { after } from 'node:test';

/** One event as a receiver got it. */
export interface ReceivedEvent {
  readonly id: string;
  readonly type: string;
  readonly domain: string | null;
  readonly [field: string]: unknown;
}

export interface ReceivedRequest {
  readonly path: string;
  /** The parsed body: one event, or an array of them. */
  readonly body: unknown;
  readonly signatureValid: boolean;
}

export interface WebhookReceiver {
  readonly port: number;
  url(path?: string): string;
  /** Every request whose signature checked out, in arrival order. */
  readonly requests: ReceivedRequest[];
  /** Requests whose signature did not check out (answered 401). */
  readonly forged: ReceivedRequest[];
  /** Every event of the signed requests at this path (all paths when omitted), arrays flattened. */
  events(path?: string): ReceivedEvent[];
  /** The status to answer each signed request with (default 200). */
  respond: (request: ReceivedRequest, index: number) => number;
  /** Closes the port (connections refused) until `up()`. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A webhook receiver on 127.0.0.1 that checks the X-Mail-Relay-Signature header with its own
 * HMAC code, as a customer's would: `t=<unix>,v1=<hex>[,v1=<hex>]`, HMAC-SHA256 over
 * "<t>.<raw body>", any v1 matching one of its keys.
 */
export async function startWebhookReceiver(keys: readonly string[]): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const forged: ReceivedRequest[] = [];
  let server: Server | undefined;
  let port = 0;
  const receiver: WebhookReceiver = {
    get port() {
      return port;
    },
    url: (path = '/hook') => `http://127.0.0.1:${port}${path}`,
    requests,
    forged,
    events(path) {
      return requests.filter((r) => path === undefined || r.path === path).flatMap((r) => (Array.isArray(r.body) ? r.body : [r.body]) as ReceivedEvent[]);
    },
    respond: () => 200,
    async down() {
      const s = server;
      server = undefined;
      if (!s) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async up() {
      const s = createServer((req, res) => {
        void readBody(req).then((raw) => {
          let body: unknown;
          try {
            body = JSON.parse(raw.toString('utf8'));
          } catch {
            body = undefined;
          }
          const request = { path: req.url ?? '', body, signatureValid: verify(keys, String(req.headers['x-mail-relay-signature'] ?? ''), raw) };
          if (!request.signatureValid || req.headers['content-type'] !== 'application/json') {
            forged.push(request);
            res.writeHead(401).end();
            return;
          }
          const status = receiver.respond(request, requests.length);
          if (status >= 200 && status < 300) requests.push(request);
          res.writeHead(status).end();
        });
      });
      await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve));
      port = (s.address() as { port: number }).port;
      server = s;
    },
    async close() {
      await receiver.down();
    },
  };
  await receiver.up();
  after(() => receiver.close());
  return receiver;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The receiver's own check: a timestamp and at least one v1 signature made with one of its keys. */
export function verify(keys: readonly string[], header: string, body: Buffer): boolean {
  const parts = header.split(',').map((p) => p.split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  if (!t || !/^\d+$/.test(t)) return false;
  const given = parts.filter(([k]) => k === 'v1').map(([, v]) => Buffer.from(v ?? '', 'hex'));
  return keys.some((key) => {
    const expected = createHmac('sha256', key).update(`${t}.`).update(body).digest();
    return given.some((g) => g.length === expected.length && timingSafeEqual(g, expected));
  });
}
