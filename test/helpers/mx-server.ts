import { readFileSync } from 'node:fs';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { after } from 'node:test';
import type { TestCertificates } from './certs.ts';

export interface ReceivedMessage {
  readonly from: string;
  readonly to: string[];
  readonly body: Buffer;
  readonly secure: boolean;
  readonly user?: string;
  readonly at: number;
}

/** What the server does; each hook may vary by call (attempt counting is up to the test). */
export interface MxBehaviour {
  /** Reply to the connection instead of greeting (e.g. `421 busy`). */
  onConnect?: () => { code: number; text: string } | undefined;
  /** Per recipient: a reply to refuse it with. */
  onRcpt?: (address: string) => { code: number; text: string } | undefined;
  /** After DATA: a reply to refuse the message with, `drop` to cut the connection, `stall` to never answer. */
  onData?: (message: { from: string; to: string[] }) => { code: number; text: string } | 'drop' | 'stall' | undefined;
  /** Offer STARTTLS (needs certs). */
  tls?: TestCertificates;
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
  /** Answer DATA this much later (a slow receiver). */
  dataDelayMs?: number;
}

export interface MxServer {
  readonly address: string;
  readonly port: number;
  readonly messages: ReceivedMessage[];
  /** Most sessions open at the same time. */
  readonly peakSessions: () => number;
  readonly attempts: number[];
  behaviour: MxBehaviour;
  close(): Promise<void>;
}

function replyError(r: { code: number; text: string }): Error {
  return Object.assign(new Error(r.text), { responseCode: r.code });
}

/**
 * A real SMTP server (smtp-server) playing an MX host or smarthost on a loopback address.
 * Distinct MX hosts listen on distinct loopback addresses (127.0.0.2, 127.0.0.3, ...) with
 * the same port, since delivery.port is one number. Counts concurrent sessions and records
 * every message it accepts.
 */
export async function startMxServer(address: string, port: number, behaviour: MxBehaviour = {}): Promise<MxServer> {
  const messages: ReceivedMessage[] = [];
  const attempts: number[] = [];
  let sessions = 0;
  let peak = 0;
  const state = { behaviour };
  const server = new SMTPServer({
    name: `mx-${address}`,
    logger: false,
    // tests end with the relay's idle connections still open; do not wait for them
    closeTimeout: 100,
    disableReverseLookup: true,
    authOptional: !behaviour.auth,
    ...(behaviour.tls ? { key: readFileSync(behaviour.tls.keyFile), cert: readFileSync(behaviour.tls.certFile) } : {}),
    disabledCommands: [...(behaviour.auth ? [] : ['AUTH']), ...(behaviour.tls ? [] : ['STARTTLS'])],
    onConnect(_session: SMTPServerSession, cb: (err?: Error) => void) {
      sessions++;
      peak = Math.max(peak, sessions);
      attempts.push(Date.now());
      const refuse = state.behaviour.onConnect?.();
      cb(refuse ? replyError(refuse) : undefined);
    },
    onClose() {
      sessions--;
    },
    onAuth(auth, _session, cb) {
      const ok = state.behaviour.auth && auth.username === state.behaviour.auth.user && auth.password === state.behaviour.auth.pass;
      cb(ok ? null : replyError({ code: 535, text: 'bad credentials' }), ok ? { user: auth.username } : undefined);
    },
    onRcptTo(address, _session, cb) {
      const refuse = state.behaviour.onRcpt?.(address.address);
      cb(refuse ? replyError(refuse) : undefined);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      const envelope = {
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: session.envelope.rcptTo.map((r) => r.address),
      };
      const decision = state.behaviour.onData?.(envelope);
      if (decision === 'drop') {
        // cut the TCP connection in the middle of the message body
        const connections = (server as unknown as { connections: Set<{ id: string; _socket: { destroy(): void } }> }).connections;
        stream.once('data', () => [...connections].find((c) => c.id === session.id)?._socket.destroy());
      }
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (decision === 'stall') return; // never answer
        if (decision === 'drop') return;
        if (decision) return cb(replyError(decision));
        const accept = () => {
          messages.push({ ...envelope, body: Buffer.concat(chunks), secure: session.secure, ...(session.user ? { user: String(session.user) } : {}), at: Date.now() });
          cb(null, 'queued');
        };
        if (state.behaviour.dataDelayMs) setTimeout(accept, state.behaviour.dataDelayMs);
        else accept();
      });
    },
  });
  // the server closes client sockets it does not like; those show up here, not as crashes
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
  const bound = server.server.address();
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  after(close);
  return {
    address,
    port: typeof bound === 'object' && bound ? bound.port : port,
    messages,
    attempts,
    peakSessions: () => peak,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(b: MxBehaviour) {
      state.behaviour = b;
    },
    close,
  };
}
