import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * A relay at (or within 2% of) its SMTP connection limit answers 421 to new clients; reporting
 * it not ready makes the Service send them to another pod instead.
 */
export function decideSaturated(connections: number, maxConnections: number): boolean {
  return connections >= maxConnections - Math.floor(maxConnections * 0.02);
}

/** `/metrics` for Prometheus, `/healthz` (the process serves), `/readyz` (it takes mail). */
export function createMetricsServer(registry: Registry, isReady: () => boolean): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
