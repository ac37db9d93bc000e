import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { ApiTokenEntry } from '../../relay/src/config/schema.ts';
import { startRelay, type Harness } from './relay-harness.ts';
import { startMxServer, type MxBehaviour, type MxServer } from './mx-server.ts';
import { scrapeSum } from './scrape.ts';
import { tempDir } from './temp-dir.ts';
import { RawSmtp } from './raw-smtp.ts';
import { waitFor } from './wait-for.ts';

/** The address trusted clients send from; 127.0.0.1 (RawSmtp's source) is an outsider. */
export const TRUSTED_SOURCE = '127.0.0.2';

export interface ReputationWorld {
  readonly mx: MxServer;
  h: Harness;
  readonly dir: string;
  /** Relays a message from a trusted client; resolves with the queue id or rejects with the SMTP error. */
  send(mail: Record<string, unknown>): Promise<string>;
  /** Sends a raw message from an untrusted client (127.0.0.1), returning every reply. */
  sendRaw(from: string, to: readonly string[], message: string): Promise<string[]>;
  metric(line: RegExp): Promise<number>;
  /** Waits until the message has left the spool (delivered or bounced). */
  settled(id: string): Promise<void>;
}

/**
 * A relay (sending domains example.com and example.org) relaying through a real SMTP server on
 * loopback that plays every recipient's MX; trusted clients come from 127.0.0.2.
 */
export async function reputationWorld(
  opts: { mx?: MxBehaviour; config?: Record<string, unknown>; reputation?: Record<string, unknown>; tokens?: readonly ApiTokenEntry[] } = {},
): Promise<ReputationWorld> {
  const dir = await tempDir();
  const mx = await startMxServer('127.0.0.1', 0, opts.mx);
  const h = await startRelay({
    dir,
    ...(opts.tokens ? { tokens: opts.tokens } : {}),
    config: {
      trustedNetworks: [`${TRUSTED_SOURCE}/32`],
      domains: [{ name: 'example.com', ...(opts.reputation ? { reputation: opts.reputation } : {}) }, { name: 'example.org' }],
      delivery: { mode: 'smarthost', smarthost: { host: '127.0.0.1', port: mx.port, tls: 'none' }, connectTimeout: '2s', commandTimeout: '2s' },
      queue: { dir: join(dir, 'spool'), retrySchedule: ['200ms'] },
      ...opts.config,
    },
  });
  const world: ReputationWorld = {
    mx,
    h,
    dir,
    async send(mail) {
      const info = await nodemailer
        .createTransport({ host: '127.0.0.1', port: world.h.port('plain'), ignoreTLS: true, localAddress: TRUSTED_SOURCE })
        .sendMail({ from: 'app@example.com', subject: 'Your receipt', text: 'Thanks for your order.', ...mail });
      return /queued as (\w+)/.exec(info.response)![1]!;
    },
    async sendRaw(from, to, message) {
      const c = await RawSmtp.connect(world.h.port('plain'));
      const replies = [await c.command('EHLO mx.sender.test'), await c.command(`MAIL FROM:<${from}>`)];
      for (const r of to) replies.push(await c.command(`RCPT TO:<${r}>`));
      const data = await c.command('DATA');
      replies.push(data);
      if (data.startsWith('354')) {
        c.write(message.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..'));
        replies.push(await c.command('\r\n.'));
      }
      await c.command('QUIT');
      c.close();
      return replies;
    },
    metric(line) {
      return scrapeSum(world.h.metricsUrl, line);
    },
    async settled(id) {
      await waitFor(`message ${id} settled`, () => world.h.relay.spool.get(id) === undefined);
    },
  };
  return world;
}
