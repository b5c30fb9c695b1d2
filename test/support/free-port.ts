// Test servers must listen on loopback only and must not collide with each other or with
// anything else on this shared machine, so we let the kernel pick a free port for us.
import { createServer } from 'node:net';

/** A TCP port that was free on 127.0.0.1 a moment ago (the kernel's pick for port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('freePort: listening socket has no TCP address'));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * Runs `start` again when the server lost the race for its port: another process may bind the
 * port between freePort() and the server's own bind(). Our start errors carry the server's log
 * tail, where Go servers report "address already in use".
 */
export async function retryOnPortRace<T>(start: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      const lostRace = err instanceof Error && /address already in use/i.test(err.message);
      if (!lostRace || attempt >= attempts) throw err;
    }
  }
}
