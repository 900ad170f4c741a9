import net from 'node:net';

/**
 * A TCP forwarder: listens on `host` (a free port) and relays every connection to 127.0.0.1:`targetPort`.
 * Lets a process in a network namespace reach a loopback-only server (Postgres, the recording sink)
 * through the namespace's veth address.
 *
 * `freeze()` makes it a black hole, the partition where packets vanish and nobody is told: bytes and
 * closes in either direction are held, and new connections are accepted but not connected onwards.
 * `thaw()` delivers what was held, in order, as a healed network would.
 */
export interface TcpProxy {
  host: string;
  port: number;
  connections(): number;
  /** Black-holes the connections from `source` (an address), or every connection when none is given. */
  freeze(source?: string): void;
  thaw(): void;
  close(): Promise<void>;
}

type Held = Buffer | 'end';

export async function startTcpProxy(host: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  let frozenSource: string | undefined;
  const isFrozen = (client: net.Socket): boolean => frozen && (frozenSource === undefined || client.remoteAddress === frozenSource);
  const flushers = new Set<() => void>();
  const pendingConnects: (() => void)[] = [];

  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };

  /** Relays from one socket to the other, holding data and the close while `client`'s connection is frozen. */
  const relay = (from: net.Socket, to: net.Socket, client: net.Socket): void => {
    const held: Held[] = [];
    const deliver = (item: Held): void => {
      if (item === 'end') {
        flushers.delete(flush);
        to.destroy();
      } else if (!to.destroyed) to.write(item);
    };
    const flush = (): void => {
      while (held.length > 0) deliver(held.shift()!);
    };
    flushers.add(flush);
    from.on('data', (chunk: Buffer) => (isFrozen(client) ? held.push(chunk) : deliver(chunk)));
    // while frozen the close is held too, and delivered after the bytes before it when the network heals
    from.once('close', () => {
      held.push('end');
      if (!isFrozen(client)) flush();
    });
    from.on('error', () => undefined);
  };

  const server = net.createServer((client) => {
    track(client);
    const connect = (): void => {
      if (client.destroyed) return;
      const upstream = net.connect(targetPort, '127.0.0.1');
      track(upstream);
      relay(client, upstream, client);
      relay(upstream, client, client);
    };
    if (isFrozen(client)) {
      // accepted, but nothing goes further until the heal: a connect that hangs
      client.pause();
      pendingConnects.push(() => {
        connect();
        client.resume();
      });
    } else connect();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    host,
    port: address.port,
    connections: () => sockets.size,
    freeze: (source) => {
      frozen = true;
      frozenSource = source;
    },
    thaw: () => {
      frozen = false;
      for (const f of [...flushers]) f();
      for (const c of pendingConnects.splice(0)) c();
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
