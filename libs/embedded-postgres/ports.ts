import net from 'node:net';

export async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** `preferred` when it is free and not yet tried; otherwise a free port the kernel picks. */
export async function choosePort(preferred: number, exclude: Set<number>): Promise<number> {
  if (!exclude.has(preferred) && (await portIsFree(preferred))) return preferred;
  for (;;) {
    const port = await ephemeralPort();
    if (!exclude.has(port)) return port;
  }
}
