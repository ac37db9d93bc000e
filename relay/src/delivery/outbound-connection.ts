import './data-stream-patch.ts';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { outcomesForError, outcomesForSuccess, type RecipientOutcome } from './outcome.ts';

export type OutboundTls = 'opportunistic' | 'none' | 'starttls' | 'implicit';

/** The TLS of an open connection. */
export interface SessionTls {
  /** `TLSv1.3`. */
  readonly version: string;
  /** The certificate chains to a trusted CA and names the host (RFC 6125, by Node's checkServerIdentity). */
  readonly authorized: boolean;
  /** Why not authorized: Node's code (`ERR_TLS_CERT_ALTNAME_INVALID`, `CERT_HAS_EXPIRED`, ...). */
  readonly authorizationError?: string;
}

/** How to reach one destination (an MX host set or the smarthost). */
export interface OutboundTarget {
  readonly hosts: readonly string[];
  readonly port: number;
  readonly tls: OutboundTls;
  /**
   * Refuse a peer certificate that is not valid for the host (smarthost, MX hosts of an enforced
   * MTA-STS policy); opportunistic MX delivery only records whether it was.
   */
  readonly verify: boolean;
  readonly ca?: Buffer;
  readonly auth?: { readonly user: string; readonly pass: string };
  /** Our EHLO name. */
  readonly name: string;
  readonly connectTimeout: number;
  readonly commandTimeout: number;
}

interface ConnectError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

function connectOnce(target: OutboundTarget, address: string, servername: string): Promise<SMTPConnection> {
  return new Promise((resolve, reject) => {
    const conn = new SMTPConnection({
      host: address,
      port: target.port,
      servername,
      secure: target.tls === 'implicit',
      ignoreTLS: target.tls === 'none',
      requireTLS: target.tls === 'starttls',
      opportunisticTLS: target.tls === 'opportunistic',
      name: target.name,
      connectionTimeout: target.connectTimeout,
      greetingTimeout: target.connectTimeout,
      socketTimeout: target.commandTimeout,
      socketCloseTimeout: 1000,
      allowInternalNetworkInterfaces: true,
      logger: false,
      tls: { rejectUnauthorized: target.verify, minVersion: 'TLSv1.2', ...(target.ca ? { ca: target.ca } : {}), servername },
    });
    let settled = false;
    conn.once('error', (err: ConnectError) => {
      if (settled) return;
      settled = true;
      conn.close();
      reject(err);
    });
    conn.connect(() => {
      if (!target.auth) {
        settled = true;
        resolve(conn);
        return;
      }
      conn.login({ user: target.auth.user, pass: target.auth.pass }, (err) => {
        if (settled) return;
        settled = true;
        if (err) {
          conn.close();
          reject(err);
        } else resolve(conn);
      });
    });
  });
}

/**
 * One SMTP connection to a destination, reused for several transactions. Opening tries each
 * host in order and each of its addresses until one greets us with 2xx; a transaction's
 * outcome is classified per recipient.
 */
export class OutboundConnection {
  broken = false;

  private constructor(
    private readonly conn: SMTPConnection,
    /** The host name that answered (MX host or smarthost). */
    readonly host: string,
  ) {
    conn.on('error', () => {
      this.broken = true;
    });
    conn.on('end', () => {
      this.broken = true;
    });
  }

  /** The negotiated TLS version (`TLSv1.3`), or undefined in clear text. */
  get tlsVersion(): string | undefined {
    return this.tls?.version;
  }

  /** The session's TLS, or undefined in clear text. */
  get tls(): SessionTls | undefined {
    if (!this.conn.secure) return undefined;
    const socket = this.conn._socket as TLSSocket | false | null;
    if (!socket || typeof socket.getProtocol !== 'function') return undefined;
    const version = socket.getProtocol();
    if (!version) return undefined;
    // authorizationError is typed as an Error but Node stores the verify error's code string there
    const error = socket.authorizationError as unknown;
    return { version, authorized: socket.authorized, ...(error ? { authorizationError: String(error) } : {}) };
  }

  static async open(target: OutboundTarget, addressesOf: (host: string) => Promise<string[]>): Promise<OutboundConnection> {
    let lastError: ConnectError | undefined;
    for (const host of target.hosts) {
      let addresses: string[];
      try {
        addresses = await addressesOf(host);
      } catch (err) {
        lastError = Object.assign(new Error(`DNS lookup of ${host} failed: ${(err as ConnectError).code ?? String(err)}`), { code: 'EDNS' });
        continue;
      }
      if (addresses.length === 0) {
        lastError = Object.assign(new Error(`${host} has no A or AAAA record`), { code: 'EDNS' });
        continue;
      }
      for (const address of addresses) {
        try {
          return new OutboundConnection(await connectOnce(target, address, host), host);
        } catch (err) {
          // the host goes with the error: MTA-STS reports name the MX host a TLS failure was at
          lastError = Object.assign(err as ConnectError, { host });
          // a 5xx greeting or a failed AUTH is the host's answer; anything else (a refused
          // STARTTLS too, where MTA-STS requires it): next address
          if (lastError.code === 'EAUTH' || (lastError.code !== 'ETLS' && (lastError.responseCode ?? 0) >= 500)) throw lastError;
        }
      }
    }
    throw lastError ?? new Error('no destination host');
  }

  /**
   * One transaction: MAIL FROM, every RCPT TO, DATA. Never throws; failures become outcomes.
   * `complete` is true when the server answered the end of DATA, which ends the transaction:
   * the next MAIL FROM can follow without an RSET round trip.
   */
  send(
    from: string,
    recipients: readonly string[],
    body: Buffer | Readable,
  ): Promise<{ outcomes: RecipientOutcome[]; complete: boolean; connectionLost: boolean }> {
    return new Promise((resolve) => {
      this.conn.send({ from, to: [...recipients] }, body, (err, info) => {
        // a body stream cut short (refused envelope, dropped connection) still holds its file open
        if (!Buffer.isBuffer(body) && !body.destroyed) body.destroy();
        if (err) {
          // a reply means the session is still in step; an error without one (drop, timeout) does not
          const lost = !err.responseCode;
          if (lost) this.broken = true;
          resolve({
            outcomes: outcomesForError(recipients, err, this.host),
            complete: err.command === 'DATA' && !lost,
            connectionLost: lost,
          });
        } else {
          resolve({ outcomes: outcomesForSuccess(recipients, info ?? {}, this.host), complete: true, connectionLost: false });
        }
      });
    });
  }

  /** RSET between transactions; false when the connection cannot be reused. */
  reset(): Promise<boolean> {
    if (this.broken) return Promise.resolve(false);
    return new Promise((resolve) => this.conn.reset((err) => resolve(!err)));
  }

  close(): void {
    this.broken = true;
    try {
      this.conn.quit();
    } catch {
      this.conn.close();
    }
  }
}
