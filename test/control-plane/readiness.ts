import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerProcess } from './processes.ts';
import { logTail } from './processes.ts';

export interface Probe {
  url: string;
  token?: string;
  /** Certificate authority for https; absent until the server has written one. */
  ca?: () => string | undefined;
}

function get(probe: Probe): Promise<number> {
  const url = new URL(probe.url);
  const headers: Record<string, string> = probe.token ? { authorization: `Bearer ${probe.token}` } : {};
  const ca = url.protocol === 'https:' ? probe.ca?.() : undefined;
  if (url.protocol === 'https:' && ca === undefined) return Promise.reject(new Error('no serving certificate yet'));
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    };
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { headers, ca, timeout: 2000 }, onResponse)
        : httpRequest(url, { headers, timeout: 2000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls until the endpoint answers 200, failing early (with the log's tail) if
 * the server exits, so a bad flag shows up as its own error rather than a timeout.
 */
export async function waitForHealthy(server: ServerProcess, probe: Probe, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (server.hasExited()) {
      throw new Error(`${server.name} exited (${await server.exited}) before becoming ready:\n${logTail(server)}`);
    }
    try {
      const status = await get(probe);
      if (status === 200) return;
      last = `HTTP ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${server.name} not ready at ${probe.url} after ${timeoutMs} ms (${last}):\n${logTail(server)}`);
}
