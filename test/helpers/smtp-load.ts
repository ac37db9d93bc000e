import { RawSmtp } from './raw-smtp.ts';

export interface LoadResult {
  /** Queue ids from `250 ... queued as ID` replies. */
  readonly acknowledged: string[];
  /** Transactions that failed (connection lost, 4xx/5xx). */
  readonly failed: number;
}

/**
 * Drives `concurrency` SMTP sessions, each sending messages back to back over one connection,
 * until `stop()` returns true or a session loses its connection. Bounded by `maxMessages`.
 */
export async function sendLoad(opts: {
  port: number;
  concurrency: number;
  maxMessages: number;
  bodySize: number;
  stop?: () => boolean;
}): Promise<LoadResult> {
  const acknowledged: string[] = [];
  let failed = 0;
  let started = 0;
  const body = `Subject: load\r\n\r\n${'x'.repeat(70)}\r\n`.repeat(Math.max(1, Math.ceil(opts.bodySize / 72)));
  const worker = async (n: number) => {
    let client: RawSmtp;
    try {
      client = await RawSmtp.connect(opts.port);
      await client.command(`EHLO load${n}.test`);
    } catch {
      failed++;
      return;
    }
    while (started < opts.maxMessages && !(opts.stop?.() ?? false) && !client.closed) {
      started++;
      try {
        if (!(await client.command('MAIL FROM:<load@example.com>')).startsWith('250')) throw new Error('MAIL');
        if (!(await client.command(`RCPT TO:<rcpt${n}@example.net>`)).startsWith('250')) throw new Error('RCPT');
        if (!(await client.command('DATA')).startsWith('354')) throw new Error('DATA');
        client.write(body);
        const reply = await client.command('.');
        const match = /^250 2\.0\.0 Ok: queued as ([0-9A-Z]{16})$/.exec(reply);
        if (match) acknowledged.push(match[1]!);
        else throw new Error(reply);
      } catch {
        failed++;
        break;
      }
    }
    client.close();
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => worker(i)));
  return { acknowledged, failed };
}
