/**
 * Free TCP ports on the loopback interface, for servers that tests start themselves.
 */
import { createServer } from 'node:net';

/**
 * Asks the kernel for a TCP port on 127.0.0.1 that nothing listens on right now.
 *
 * The port is released before this returns, so another process could take it before the caller
 * binds it; the database harnesses retry with a fresh port when their server cannot bind.
 *
 * @returns a port number between 1024 and 65535.
 * @example
 * ```ts
 * const port = await freePort();
 * server.listen(port, '127.0.0.1');
 * ```
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: the kernel did not report a TCP port for the probe socket'));
        return;
      }
      const { port } = address;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}
