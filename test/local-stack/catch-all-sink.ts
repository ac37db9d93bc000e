import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth';
import { SMTPServer } from 'smtp-server';

export interface SunkMessage {
  readonly from: string;
  readonly to: readonly string[];
  readonly file: string;
  /** mailauth's result for each DKIM signature, e.g. `pass example.com`. */
  readonly dkim: readonly string[];
  readonly raw: Buffer;
}

export interface CatchAllSink {
  readonly port: number;
  readonly dir: string;
  readonly messages: readonly SunkMessage[];
  close(): Promise<void>;
}

type Resolver = (name: string, rrtype: string) => Promise<unknown>;

/**
 * Stands in for every MX host of the internet: accepts any mail on `listen` (the node IP and
 * port 25, where relay pods deliver by MX), keeps each message as an .eml file under
 * `dir/<recipient domain>/`, and checks its DKIM signatures against the local DNS, the way a
 * receiving provider would.
 */
export async function startCatchAllSink(
  dir: string,
  resolver: Resolver,
  listen: { address: string; port: number },
  onMessage?: (m: SunkMessage) => void,
): Promise<CatchAllSink> {
  const messages: SunkMessage[] = [];
  let seq = 0;
  const server = new SMTPServer({
    name: 'mx.local-stack',
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    banner: 'local catch-all sink',
    size: 64 * 2 ** 20,
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const to = session.envelope.rcptTo.map((r) => r.address);
        const domain = (to[0]?.split('@')[1] ?? 'unknown').toLowerCase();
        mkdirSync(join(dir, domain), { recursive: true });
        const file = join(dir, domain, `${Date.now()}-${++seq}.eml`);
        writeFileSync(file, raw);
        dkimVerify(raw, { resolver: resolver as never }).then(
          (result) => {
            const message: SunkMessage = {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to,
              file,
              dkim: result.results.map((r) => `${r.status.result} ${r.signingDomain ?? ''}`.trim()),
              raw,
            };
            messages.push(message);
            onMessage?.(message);
            callback();
          },
          (err: Error) => callback(err),
        );
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(listen.port, listen.address, () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    dir,
    messages,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
