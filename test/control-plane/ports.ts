import { createServer } from 'node:net';

/**
 * Asks the kernel for a free loopback port. Another process can still take it
 * before the server binds, so callers retry a start that fails to bind.
 */
export function freePort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}

/** `previous` when it is still free (a kept stack's addresses stay the same), else any free port. */
export async function preferredPort(previous: number | undefined): Promise<number> {
  if (previous !== undefined && Number.isInteger(previous) && previous > 0 && previous < 65536) {
    try {
      return await freePort(previous);
    } catch {
      // taken since: any free one
    }
  }
  return freePort();
}
