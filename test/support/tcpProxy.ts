import net from 'node:net';

/**
 * A TCP forwarder: listens on `host` (a free port) and relays every connection to 127.0.0.1:`targetPort`.
 * Lets a process in a network namespace reach a loopback-only server (Postgres, the recording sink)
 * through the namespace's veth address.
 *
 * `freeze()` makes it a black hole, the partition where packets vanish and nobody is told: bytes and
 * closes in either direction are held, and new connections are accepted but not connected onwards.
 * `thaw()` delivers what was held, in order, as a healed network would: the sender's kernel
 * retransmits what was never acknowledged, even after a close. Not after a reset (RST): the sender's
 * kernel drops what it held, so a reset discards what was held from that side.
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

/** Bytes, an orderly close (FIN) or a reset. */
type Held = Buffer | 'end' | 'reset';

export async function startTcpProxy(host: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  let frozenSource: string | undefined;
  const isFrozen = (client: net.Socket): boolean =>
    frozen && (frozenSource === undefined || client.remoteAddress === frozenSource);
  const flushers = new Set<() => void>();
  const pendingConnects: (() => void)[] = [];

  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };

  /** Relays from one socket to the other, holding data and the close while `client`'s connection is frozen. */
  const relay = (from: net.Socket, to: net.Socket, client: net.Socket, early: Buffer[] = []): void => {
    const held: Held[] = [...early];
    const deliver = (item: Held): void => {
      if (item === 'end' || item === 'reset') {
        flushers.delete(flush);
        // an orderly close delivers what was written before it; a reset does not wait
        if (item === 'end') to.end(() => to.destroy());
        else to.destroy();
      } else if (!to.destroyed) to.write(item);
    };
    const flush = (): void => {
      while (held.length > 0) deliver(held.shift()!);
    };
    flushers.add(flush);
    if (!isFrozen(client)) flush();
    from.on('data', (chunk: Buffer) => (isFrozen(client) ? held.push(chunk) : deliver(chunk)));
    // while frozen the close is held too, and delivered after the bytes before it when the network heals
    from.once('close', (hadError: boolean) => {
      held.push(hadError ? 'reset' : 'end');
      if (!isFrozen(client)) flush();
    });
    from.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' && isFrozen(client)) held.length = 0;
    });
  };

  const connect = (client: net.Socket, early: Buffer[] = []): void => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    track(upstream);
    relay(client, upstream, client, early);
    relay(upstream, client, client);
  };

  const server = net.createServer((client) => {
    track(client);
    if (!isFrozen(client)) {
      connect(client);
      return;
    }
    // A connection opened during the partition: its handshake would not complete, so its bytes wait
    // in the sender until the heal, and a sender that gives up before then never reached anyone.
    const early: Buffer[] = [];
    let gaveUp = false;
    const hold = (chunk: Buffer): void => void early.push(chunk);
    client.on('data', hold);
    client.once('end', () => (gaveUp = true));
    client.once('close', () => (gaveUp = true));
    client.on('error', () => (gaveUp = true));
    pendingConnects.push(() => {
      client.off('data', hold);
      if (gaveUp || client.destroyed) client.destroy();
      else connect(client, early);
    });
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
