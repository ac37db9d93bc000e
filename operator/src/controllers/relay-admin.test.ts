import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { Informer } from '../kube/informer.ts';
import { relayLabels } from '../resources/labels.ts';
import { buildRelayPods, RelayAdmin } from './relay-admin.ts';

function pod(name: string, ip: string | undefined, ready: boolean, labels = relayLabels('outbound'), deleting = false): V1Pod {
  return {
    metadata: { name, namespace: 'mail', labels, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
    status: { ...(ip ? { podIP: ip } : {}), conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

describe('buildRelayPods', () => {
  it('keeps the relay pods with an address, by ordinal, and leaves out other relays, pods without an IP and terminating ones', () => {
    const pods = buildRelayPods('outbound', [
      pod('outbound-10', '10.0.0.10', true),
      pod('outbound-2', '10.0.0.2', false),
      pod('outbound-3', undefined, false),
      pod('outbound-4', '10.0.0.4', true, relayLabels('outbound'), true),
      pod('outbound-extra-0', '10.0.0.9', true, relayLabels('outbound-extra')),
      pod('outbound-x', '10.0.0.8', true),
      pod('outbound-1', '10.0.0.1', true, { app: 'other' }),
    ]);
    assert.deepEqual(pods, [
      { name: 'outbound-2', ordinal: 2, ip: '10.0.0.2', ready: false },
      { name: 'outbound-10', ordinal: 10, ip: '10.0.0.10', ready: true },
    ]);
  });
});

describe('RelayAdmin', () => {
  let server: Server;
  let port: number;
  const seen: { auth?: string; body: string }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, body });
        if (req.headers.authorization !== 'Bearer right-token-0123456789') {
          res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unauthorized', message: 'bad token' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url, method: req.method }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const informer = { list: () => [pod('outbound-0', '127.0.0.1', true)] } as unknown as Informer<V1Pod>;
  const target = { name: 'outbound-0', ordinal: 0, ip: '127.0.0.1', ready: true };

  it('sends the bearer token and a JSON body, and returns the parsed reply', async () => {
    const admin = new RelayAdmin({ pods: informer, token: async () => 'right-token-0123456789', port });
    assert.deepEqual(admin.pods('mail', 'outbound'), [target]);
    const res = await admin.request<{ path: string; method: string }>('mail', 'outbound', target, 'POST', '/v1/x', { a: 1 });
    assert.deepEqual(res, { status: 200, body: { path: '/v1/x', method: 'POST' } });
    assert.deepEqual(seen.at(-1), { auth: 'Bearer right-token-0123456789', body: '{"a":1}' });
  });

  it('throws with the status and the pod message on a refusal, and without a token before sending anything', async () => {
    const wrong = new RelayAdmin({ pods: informer, token: async () => 'wrong-token-0123456789', port });
    await assert.rejects(wrong.request('mail', 'outbound', target, 'GET', '/v1/x'), (err: Error & { status?: number; code?: string }) => {
      assert.equal(err.code, 'EOP_RELAY_ADMIN');
      assert.equal(err.status, 401);
      assert.match(err.message, /HTTP 401: bad token/);
      return true;
    });
    const before = seen.length;
    const none = new RelayAdmin({ pods: informer, token: async () => undefined, port });
    await assert.rejects(none.request('mail', 'outbound', target, 'GET', '/v1/x'), /no admin token/);
    assert.equal(seen.length, before);
  });
});
