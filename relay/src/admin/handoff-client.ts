import { request } from 'node:http';
import { HANDOFF_CONTENT_TYPE } from './handoff-wire.ts';

export interface DrainTarget {
  readonly host: string;
  readonly port: number;
  readonly token: string;
}

export interface ImportAnswer {
  readonly handoff: string;
  readonly id: string;
  readonly duplicate: boolean;
}

const MAX_ANSWER = 4 * 2 ** 20;

/**
 * Sends one batch of frames to a peer's `POST /v1/queue/import` and resolves with the handoffs
 * the peer acknowledged (each fsynced there). Rejects on anything but a complete 200 answer:
 * the caller then keeps the messages and tries again.
 */
export function postHandoff(target: DrainTarget, frames: readonly Buffer[], timeoutMs: number): Promise<ImportAnswer[]> {
  return new Promise((resolve, reject) => {
    const length = frames.reduce((n, f) => n + f.length, 0);
    const req = request(
      {
        host: target.host,
        port: target.port,
        method: 'POST',
        path: '/v1/queue/import',
        timeout: timeoutMs,
        headers: { authorization: `Bearer ${target.token}`, 'content-type': HANDOFF_CONTENT_TYPE, 'content-length': length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER) req.destroy(new Error('import answer too large'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`peer ${target.host}:${target.port} answered ${res.statusCode}: ${text.slice(0, 300)}`));
          try {
            const body = JSON.parse(text) as { imported?: unknown };
            if (!Array.isArray(body.imported)) throw new Error('no imported list');
            resolve(body.imported.filter((m): m is ImportAnswer => typeof m === 'object' && m !== null && typeof (m as ImportAnswer).handoff === 'string'));
          } catch (err) {
            reject(new Error(`peer ${target.host}:${target.port} answered 200 without an import list`, { cause: err }));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`peer ${target.host}:${target.port} did not answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    for (const f of frames) req.write(f);
    req.end();
  });
}
