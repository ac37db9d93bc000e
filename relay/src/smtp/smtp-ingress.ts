import './smtp-server-patches.ts';
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { TLSSocket } from 'node:tls';
import type { ListenerConfig, RelayConfig } from '../config/schema.ts';
import { NetworkList } from '../config/cidr.ts';
import { RelayError, SmtpReplyError, describeError, errorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { RelayMetrics } from '../metrics/metrics.ts';
import type { Spool } from '../spool/spool.ts';
import type { AuthenticatedUser, Authenticator } from './authenticator.ts';
import { AuthThrottle } from './auth-throttle.ts';
import { ClientLimits, clientKey, clientRefusal } from './client-limits.ts';
import type { Refusal } from '../submission/outcome.ts';
import { AUTH_REQUIRED_TEXT, decideAuthRequired, decideAuthorizationIdentity } from './auth-policy.ts';
import { checkRelayAllowed } from './sender-policy.ts';
import { SubmissionPipeline } from '../submission/submission-pipeline.ts';
import type { Submitter } from '../submission/envelope.ts';
import { smtpReply } from '../submission/reply-codes.ts';
import { protocolName } from '../submission/trace-headers.ts';
import type { CertificatePair } from './tls-certificates.ts';
import type { SendGate } from '../reputation/send-gate.ts';
import type { EventSink } from '../events/event-types.ts';
import type { FeedbackIntake } from '../reputation/feedback-processor.ts';

export interface IngressDeps {
  readonly config: RelayConfig;
  readonly spool: Spool;
  readonly authenticator: Authenticator;
  readonly metrics: RelayMetrics;
  readonly logger: Logger;
  readonly certificates?: CertificatePair;
  /** Base delay of the AUTH failure back-off (tests shorten it). */
  readonly authDelayMs?: number;
  /** Paused sending domains and suppressed recipients. */
  readonly gate?: SendGate;
  /** Bounce and complaint addresses: taken from anyone, consumed, never relayed. */
  readonly feedback?: FeedbackIntake;
  /** accepted, rejected and suppressed events (the submission pipeline writes them). */
  readonly events?: EventSink;
}

/** What the current transaction carries: mail to relay, or reports to consume; never both. */
type TransactionKind = 'relay' | 'feedback';

/** How long a `454` for a full password-check queue waits before it is sent. */
const BUSY_REPLY_DELAY_MS = 1000;

/** Feedback reports are read into memory to be parsed; the report parts come first, the rest is the original. */
const MAX_FEEDBACK_READ = 1024 * 1024;

interface SessionState {
  readonly startedAt: number;
  /** Fields every log line of the session carries. A winston child per connection costs more than the rest of onConnect. */
  readonly logFields: { readonly sessionId: string; readonly listener: string; readonly remoteAddress: string };
  /** Whether the client address is in trustedNetworks, decided once per connection. */
  readonly trusted: boolean;
  /** The client's entry in the per-client limits (its address, or its /64). */
  readonly clientKey: string;
  sendingDomain: string | undefined;
  /**
   * With feedback addresses configured, a sender the relay would refuse at MAIL FROM (an
   * outsider's DSN from <>) is let through to RCPT, where only feedback addresses are taken
   * and every other recipient gets this refusal.
   */
  senderError: SmtpReplyError | undefined;
  /** The refusal behind senderError, reported as a `rejected` event once a relayed recipient shows it applies. */
  senderRefusal: Refusal | undefined;
  kind: TransactionKind | undefined;
}

type Callback = (err?: Error | null) => void;

/** RFC 5321 4.5.3.1.10: 452 makes the client send the rest of the recipients in a new transaction. */
function separateTransaction(): SmtpReplyError {
  return new SmtpReplyError(452, '4.5.3', 'Feedback reports and other mail go in separate transactions', 'mixed_transaction');
}

function tlsVersionOf(session: SMTPServerSession): string | undefined {
  const cipher = session.tlsOptions as { version?: string } | false | undefined;
  return cipher ? cipher.version : undefined;
}

/** The listeners' TLS context: the configured suites in the server's order of preference. */
function serverTlsOptions(pair: CertificatePair) {
  return { key: pair.key, cert: pair.cert, minVersion: pair.minVersion, ciphers: pair.ciphers, honorCipherOrder: true };
}

/** Adapts an async hook to smtp-server's callback, which must be called exactly once. */
function adapt(callback: Callback, work: () => Promise<void> | void): void {
  let result: Promise<void> | void;
  try {
    result = work();
  } catch (err) {
    callback(err as Error);
    return;
  }
  if (result) result.then(() => callback(), (err: Error) => callback(err));
  else callback();
}

/**
 * SMTP ingress: one smtp-server per configured listener, sharing the relay policy, the
 * connection limit and the spool. Hooks are thin adapters around async functions that throw
 * SmtpReplyError; the body streams through the submission pipeline into the spool, and `250`
 * is sent only after the spool's fsync.
 */
export class SmtpIngress {
  private readonly servers = new Map<string, { server: SMTPServer; listener: ListenerConfig }>();
  private readonly sessions = new Map<string, SessionState>();
  private readonly trusted: NetworkList;
  private readonly pipeline: SubmissionPipeline;
  private readonly throttle: AuthThrottle;
  private readonly clients: ClientLimits;
  private sweepTimer: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(private readonly deps: IngressDeps) {
    this.trusted = new NetworkList(deps.config.trustedNetworks);
    this.pipeline = new SubmissionPipeline(deps);
    this.throttle = new AuthThrottle(deps.authDelayMs);
    this.clients = new ClientLimits(deps.config.limits);
    for (const listener of deps.config.listeners) {
      const server = this.createServer(listener);
      // smtp-server reports client-side failures (TLS handshakes cut short, resets) as 'error'
      // events; unhandled, one would take the process down.
      server.on('error', (err: Error & { code?: string }) => {
        deps.logger.debug('smtp connection error', { listener: listener.name, code: err.code, error: err.message });
      });
      this.servers.set(listener.name, { server, listener });
    }
  }

  /** Starts every listener; resolves with the bound ports (useful with port 0). */
  async listen(): Promise<Map<string, number>> {
    const ports = new Map<string, number>();
    for (const [name, { server, listener }] of this.servers) {
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(new RelayError('ERELAY_LISTEN', `listener ${name} cannot listen on ${listener.address}:${listener.port}: ${err.message}`, { cause: err }));
        server.server.once('error', onError);
        server.listen(listener.port, listener.address, () => {
          server.server.off('error', onError);
          resolve();
        });
      });
      const address = server.server.address();
      ports.set(name, typeof address === 'object' && address ? address.port : listener.port);
    }
    const { sessionTimeout } = this.deps.config.limits;
    this.sweepTimer = setInterval(() => this.closeOverdueSessions(), Math.min(10_000, sessionTimeout));
    this.sweepTimer.unref();
    return ports;
  }

  updateCertificates(pair: CertificatePair): void {
    for (const { server, listener } of this.servers.values()) {
      if (listener.tls !== 'none') server.updateSecureContext(serverTlsOptions(pair));
    }
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  /**
   * Stops accepting connections; sessions get `graceMs` to finish (a message in DATA is
   * completed and acknowledged), then the rest are closed with 421.
   */
  async close(graceMs: number): Promise<void> {
    this.draining = true;
    clearInterval(this.sweepTimer);
    await Promise.all(
      [...this.servers.values()].map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            (server.options as { closeTimeout?: number }).closeTimeout = graceMs;
            server.close(() => resolve());
          }),
      ),
    );
  }

  private createServer(listener: ListenerConfig): SMTPServer {
    const { config } = this.deps;
    const pair = this.deps.certificates;
    const disabled = this.baseDisabled(listener);
    return new SMTPServer({
      name: config.hostname,
      banner: 'mail-relay ESMTP',
      secure: listener.tls === 'implicit',
      ...(listener.tls !== 'none' && pair ? serverTlsOptions(pair) : {}),
      disabledCommands: disabled,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: listener.auth !== 'required',
      authRequiredMessage: `5.7.0 ${AUTH_REQUIRED_TEXT}`,
      allowInsecureAuth: false,
      size: config.limits.maxMessageSize,
      rejectOversized: true,
      maxRecipients: config.limits.maxRecipients,
      maxCommandLength: config.limits.maxLineLength,
      socketTimeout: config.limits.idleTimeout,
      hideENHANCEDSTATUSCODES: false,
      hideDSN: true,
      disableReverseLookup: true,
      // smtp-server writes a reply per command; with Nagle on, delayed ACKs stall each one ~40 ms
      noDelay: true,
      // read by the reply patch in smtp-server-patches.ts
      ...{ maxErrorsPerSession: config.limits.maxErrorsPerSession },
      logger: false,
      onConnect: (session, cb) => adapt(cb, () => this.onConnect(listener, session)),
      onSecure: (socket, session, cb) => adapt(cb, () => this.onSecure(listener, socket as TLSSocket, session)),
      onAuth: (auth, session, cb) => {
        this.onAuth(listener, auth, session).then(
          (user) => cb(null, { user }),
          (err: Error) => cb(err),
        );
      },
      onMailFrom: (address, session, cb) => adapt(cb, () => this.onMailFrom(listener, address, session)),
      onRcptTo: (address, session, cb) => adapt(cb, () => this.onRcptTo(listener, address, session)),
      onData: (stream, session, cb) => {
        this.onData(listener, stream, session).then(
          (reply) => cb(null, reply),
          (err: Error) => cb(err),
        );
      },
      onClose: (session) => this.onClose(listener, session),
    });
  }

  private baseDisabled(listener: ListenerConfig): string[] {
    const disabled: string[] = [];
    if (listener.tls !== 'starttls') disabled.push('STARTTLS');
    if (listener.auth === 'none') disabled.push('AUTH');
    return disabled;
  }

  private reject(listener: ListenerConfig, err: SmtpReplyError): SmtpReplyError {
    this.deps.metrics.messagesRejected.inc({ listener: listener.name, reason: err.reason });
    return err;
  }

  private onConnect(listener: ListenerConfig, session: SMTPServerSession): void {
    if (this.draining) throw new SmtpReplyError(421, '4.3.2', 'Service shutting down, try another host', 'shutting_down');
    if (this.sessions.size >= this.deps.config.limits.maxConnections) {
      throw this.reject(listener, new SmtpReplyError(421, '4.7.0', 'Too many connections, try again later', 'too_many_connections'));
    }
    const remoteAddress = session.remoteAddress ?? '';
    const trusted = this.trusted.contains(remoteAddress);
    const key = clientKey(remoteAddress);
    const verdict = this.clients.admit(key, trusted, Date.now());
    if (verdict !== 'accept') throw this.reject(listener, clientRefusal(verdict));
    this.sessions.set(session.id, {
      startedAt: Date.now(),
      logFields: { sessionId: session.id, listener: listener.name, remoteAddress },
      trusted,
      clientKey: key,
      sendingDomain: undefined,
      senderError: undefined,
      senderRefusal: undefined,
      kind: undefined,
    });
    this.deps.metrics.connections.inc({ listener: listener.name });
  }

  private onClose(listener: ListenerConfig, session: SMTPServerSession): void {
    const state = this.sessions.get(session.id);
    if (!state) return;
    this.sessions.delete(session.id);
    this.clients.release(state.clientKey);
    this.deps.metrics.connections.dec({ listener: listener.name });
  }

  private onSecure(listener: ListenerConfig, socket: TLSSocket, _session: SMTPServerSession): void {
    // A client-initiated TLS 1.2 renegotiation costs the server a handshake for every one the
    // client asks for, and nothing a mail client needs; Node allows three in ten minutes.
    // With this, an attempt is a TLS error that ends the connection (TLS 1.3 has none).
    socket.disableRenegotiation();
    this.deps.metrics.tlsSessions.inc({ direction: 'inbound', version: socket.getProtocol?.() ?? 'unknown' });
  }

  private async onAuth(listener: ListenerConfig, auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<AuthenticatedUser> {
    const identityRefusal = decideAuthorizationIdentity(auth);
    if (identityRefusal) {
      this.deps.metrics.authFailures.inc({ listener: listener.name });
      this.log(session, 'warn', 'authentication refused: authorization identity differs', { user: this.deps.authenticator.loggable(auth.username), method: auth.method });
      throw identityRefusal;
    }
    const { username, password } = auth;
    const fresh = username && typeof password === 'string' ? this.deps.authenticator.cached(username, password) : undefined;
    if (fresh) return this.authenticated(session, fresh);
    const key = this.sessions.get(session.id)?.clientKey ?? clientKey(session.remoteAddress ?? '');
    if (this.throttle.begin(key) === 'throttled') {
      this.log(session, 'warn', 'authentication throttled', { user: this.deps.authenticator.loggable(username), method: auth.method });
      await new Promise((r) => setTimeout(r, this.throttle.penalty(key)));
      throw new SmtpReplyError(454, '4.7.0', 'Too many authentication attempts from your address, try again later', 'auth_throttled');
    }
    try {
      let user: AuthenticatedUser | undefined;
      try {
        user = username && typeof password === 'string' ? await this.deps.authenticator.verify(username, password) : undefined;
      } catch (err) {
        if (errorCode(err) !== 'ERELAY_AUTH_BUSY') throw err;
        this.log(session, 'warn', 'authentication deferred: password checks busy', { user: this.deps.authenticator.loggable(username), method: auth.method });
        // a timer, so that clients retrying at once do not turn a full queue into a busy loop
        await new Promise((r) => setTimeout(r, BUSY_REPLY_DELAY_MS));
        throw new SmtpReplyError(454, '4.7.0', 'Temporary authentication failure, try again later', 'auth_busy', { cause: err });
      }
      if (user) return this.authenticated(session, user);
      this.deps.metrics.authFailures.inc({ listener: listener.name });
      const delay = this.throttle.fail(key);
      this.log(session, 'warn', 'authentication failed', { user: this.deps.authenticator.loggable(username), method: auth.method });
      await new Promise((r) => setTimeout(r, delay));
    } finally {
      this.throttle.end(key);
    }
    throw new SmtpReplyError(535, '5.7.8', 'Authentication credentials invalid', 'auth_failed');
  }

  private authenticated(session: SMTPServerSession, user: AuthenticatedUser): AuthenticatedUser {
    this.log(session, 'info', 'authenticated', { user: user.username });
    return { username: user.username, allowedSenderDomains: user.allowedSenderDomains };
  }

  private log(session: SMTPServerSession, level: 'debug' | 'info' | 'warn' | 'error', message: string, fields: Record<string, unknown>): void {
    if (!this.deps.logger.isLevelEnabled(level)) return;
    this.deps.logger.log(level, message, { ...this.sessions.get(session.id)?.logFields, ...fields });
  }

  /** Refusals that come before any policy of the transaction itself. */
  private checkAccess(listener: ListenerConfig, session: SMTPServerSession): void {
    const refusal = decideAuthRequired(listener, Boolean(this.user(session)));
    if (refusal) throw this.reject(listener, refusal);
  }

  private user(session: SMTPServerSession): AuthenticatedUser | undefined {
    return session.user as AuthenticatedUser | undefined;
  }

  private async onMailFrom(listener: ListenerConfig, address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    this.checkAccess(listener, session);
    const declared = Number((address.args || {}).SIZE ?? 0) || 0;
    if (!this.deps.spool.hasRoomFor(Math.max(declared, 64 * 1024))) {
      throw this.reject(listener, new SmtpReplyError(452, '4.3.1', 'Insufficient system storage, try again later', 'spool_full'));
    }
    const state = this.sessions.get(session.id);
    if (state) {
      state.sendingDomain = undefined;
      state.senderError = undefined;
      state.senderRefusal = undefined;
      state.kind = undefined;
    }
    const submitter = this.submitter(session, state);
    const verdict = this.pipeline.admit(address.address, submitter);
    if (!verdict.ok) {
      const error = smtpReply(verdict.refusal);
      // outsiders' DSNs reach feedback addresses; a paused domain is refused to everyone
      if (!this.deps.feedback || !state || verdict.refusal.reason === 'domain_paused') {
        await this.pipeline.refused({ sender: address.address, recipients: [], listener: listener.name, submitter }, verdict.refusal);
        throw this.reject(listener, error);
      }
      state.senderError = error;
      state.senderRefusal = verdict.refusal;
      return;
    }
    if (state) state.sendingDomain = verdict.sendingDomain;
  }

  private async onRcptTo(listener: ListenerConfig, address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    this.checkAccess(listener, session);
    const state = this.sessions.get(session.id);
    if (this.deps.feedback?.isFeedbackAddress(address.address) && state) {
      if (state.kind === 'relay') throw this.reject(listener, separateTransaction());
      state.kind = 'feedback';
      return;
    }
    const denied = checkRelayAllowed({ trusted: state?.trusted ?? false, user: this.user(session) });
    if (denied) throw this.reject(listener, denied);
    if (state?.senderError) {
      if (state.senderRefusal) {
        const submitter = this.submitter(session, state);
        await this.pipeline.refused({ sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', recipients: [address.address], listener: listener.name, submitter }, state.senderRefusal);
        state.senderRefusal = undefined;
      }
      throw this.reject(listener, state.senderError);
    }
    if (state?.kind === 'feedback') throw this.reject(listener, separateTransaction());
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$|^[^@\s]+@\[[^\]]+\]$/.test(address.address)) {
      throw this.reject(listener, new SmtpReplyError(550, '5.1.3', 'Recipient address must be user@domain', 'bad_recipient'));
    }
    const domain = state?.sendingDomain;
    if (domain && this.deps.gate?.isSuppressed(domain, address.address)) {
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      await this.pipeline.suppressed({ sender, domain, recipient: address.address, listener: listener.name });
      throw this.reject(
        listener,
        new SmtpReplyError(550, '5.1.1', `Recipient is suppressed for ${domain} after a hard bounce or complaint`, 'suppressed'),
      );
    }
    if (state) state.kind = 'relay';
  }

  /** Reads a message for feedback addresses and hands it over; it is never queued. */
  private async consumeFeedback(feedback: FeedbackIntake, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (size >= MAX_FEEDBACK_READ) continue;
      chunks.push(chunk);
      size += chunk.length;
    }
    if (stream.sizeExceeded) return ''; // smtp-server answers 552 5.3.4 itself
    const recipients = session.envelope.rcptTo.map((r) => r.address);
    try {
      await feedback.consume(Buffer.concat(chunks), recipients, { ...this.sessions.get(session.id)?.logFields });
    } catch (err) {
      // the intake's own refusals (its rate limit) are answered as they are
      if (err instanceof SmtpReplyError) throw err;
      this.log(session, 'error', 'feedback report not recorded', { error: describeError(err), code: errorCode(err) });
      throw new SmtpReplyError(451, '4.3.0', 'Temporary local problem, try again later', 'feedback_error', { cause: err });
    }
    return '2.0.0 Ok: report received';
  }

  /** Who may send this session's mail: its user, or a trusted-network client; undefined for anyone else (refused at RCPT). */
  private submitter(session: SMTPServerSession, state: SessionState | undefined): Submitter | undefined {
    const user = this.user(session);
    if (user) return { kind: 'user', name: user.username, allowedSenderDomains: user.allowedSenderDomains };
    return state?.trusted ? { kind: 'trusted' } : undefined;
  }

  private async onData(listener: ListenerConfig, stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const state = this.sessions.get(session.id);
    if (state?.kind === 'feedback' && this.deps.feedback) return this.consumeFeedback(this.deps.feedback, stream, session);
    const outcome = await this.pipeline.submit(
      {
        sender: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        recipients: session.envelope.rcptTo.map((r) => r.address),
        // RCPT let the transaction through: the client authenticated or is trusted
        submitter: this.submitter(session, state) ?? { kind: 'trusted' },
        listener: listener.name,
        clientAddress: session.remoteAddress ?? '',
        helo: session.hostNameAppearsAs,
        protocol: session.transmissionType ?? protocolName(true, session.secure, Boolean(session.user)),
        tlsVersion: tlsVersionOf(session),
        ...(state ? { logFields: state.logFields } : {}),
      },
      () => stream as AsyncIterable<Buffer>,
    );
    if (outcome.accepted) return `2.0.0 Ok: queued as ${outcome.id}`;
    if (outcome.refusal.reason === 'message_too_big' && stream.sizeExceeded) {
      this.deps.metrics.messagesRejected.inc({ listener: listener.name, reason: 'message_too_big' });
      return ''; // smtp-server answers 552 5.3.4 itself (rejectOversized)
    }
    throw this.reject(listener, smtpReply(outcome.refusal));
  }

  private closeOverdueSessions(): void {
    const limit = this.deps.config.limits.sessionTimeout;
    const now = Date.now();
    for (const { server } of this.servers.values()) {
      for (const connection of server.connections as Set<{ id: string; send(code: number, text: string): void; close(): void }>) {
        const state = this.sessions.get(connection.id);
        if (state && now - state.startedAt > limit) {
          connection.send(421, '4.4.2 Session time limit reached, closing connection');
          connection.close();
        }
      }
    }
  }
}
