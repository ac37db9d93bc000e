import http from 'node:http';
import https from 'node:https';
import type { RequestResult } from './decide-retry.ts';

/**
 * One POST to a webhook URL: nothing but this URL is contacted (redirects are answers, never
 * followed), the whole exchange is bounded by `timeout`, and the response body is read and
 * discarded up to a small limit. Never throws: every failure is a RequestResult.
 */
export function postWebhook(url: URL, body: Buffer, headers: Record<string, string>, timeout: number, agent: http.Agent): Promise<RequestResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: RequestResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      agent,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(body.length), 'user-agent': 'mail-relay-webhooks' },
    });
    const timer = setTimeout(() => {
      request.destroy(new Error('timeout'));
      finish({ error: 'timeout' });
    }, timeout);
    request.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message }));
    request.on('response', (response) => {
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        // a receiver that streams without end does not hold the dispatcher
        if (read > 64 * 1024) response.destroy();
      });
      response.on('error', () => undefined);
      response.on('close', () => finish({ status: response.statusCode ?? 0 }));
      response.on('end', () => finish({ status: response.statusCode ?? 0 }));
    });
    request.end(body);
  });
}
