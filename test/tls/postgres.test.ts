/**
 * The embedded Postgres of a `--listen` coordinator: on the listen address it takes TLS and a
 * scram-sha-256 password, and nothing else; this machine's own processes keep 127.0.0.1. Here the
 * listen address is the loopback alias 127.0.0.2, and the "remote" client connects from it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '@handoff/embedded-postgres';
import type { EmbeddedPostgresServer } from '@handoff/embedded-postgres';
import { certificateHosts, createAuthority, ensureServerTls } from '@handoff/tls';
import { removeHome } from '../support/removeHome.ts';

const ADDR = '127.0.0.2';

/** A socket that connects from ADDR, as a client on another machine would (not from 127.0.0.1). */
function fromListenAddress(): Socket {
  const socket = new Socket();
  const connect = socket.connect.bind(socket) as (options: {
    port: number;
    host: string;
    localAddress: string;
  }) => Socket;
  (socket as unknown as { connect: (port: number, host: string) => Socket }).connect = (port, host) =>
    connect({ port, host, localAddress: ADDR });
  return socket;
}

async function remoteQuery(
  server: EmbeddedPostgresServer,
  opts: { password?: string; ssl: pg.ClientConfig['ssl'] },
): Promise<string> {
  const url = new URL(server.url);
  const client = new pg.Client({
    host: ADDR,
    port: server.port,
    user: url.username,
    password: opts.password ?? decodeURIComponent(url.password),
    database: 'handoff',
    ssl: opts.ssl,
    stream: fromListenAddress,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0]?.ssl ? 'tls' : 'plain';
  } finally {
    await client.end().catch(() => {});
  }
}

describe('embedded Postgres with --listen', () => {
  const homes: string[] = [];
  const servers: EmbeddedPostgresServer[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
    for (const home of homes) await removeHome(home);
  });

  test(
    'beyond loopback it takes TLS and the password only; 127.0.0.1 keeps working; without --listen it is gone',
    { timeout: 120_000 },
    async () => {
      const home = mkdtempSync(path.join(os.tmpdir(), 'handoff-pg-tls-'));
      homes.push(home);
      const tls = await ensureServerTls({ home, hosts: certificateHosts(ADDR) });
      const server = await startEmbeddedPostgres({ home, listen: { address: ADDR, cert: tls.cert, key: tls.key } });
      servers.push(server);

      // the coordinator's own pool, on 127.0.0.1, as before
      const local = new pg.Client({ connectionString: server.url });
      await local.connect();
      await local.end();

      assert.equal(await remoteQuery(server, { ssl: { ca: tls.ca } }), 'tls');

      await assert.rejects(remoteQuery(server, { ssl: false }), (err: { code?: string; message: string }) => {
        assert.equal(err.code, '28000', err.message); // no pg_hba.conf entry ... no encryption
        return true;
      });
      await assert.rejects(remoteQuery(server, { ssl: { ca: tls.ca }, password: 'wrong' }), { code: '28P01' });
      const stranger = await createAuthority({ name: 'someone else', now: new Date(), days: 10 });
      await assert.rejects(remoteQuery(server, { ssl: { ca: stranger.cert } }), /certificate/i);

      // the key Postgres reads: the postgres user's own, 0600
      assert.equal((await stat(path.join(server.dataDir, 'server.key'))).mode & 0o777, 0o600);

      await server.stop();
      const plain = await startEmbeddedPostgres({ home });
      servers.push(plain);
      await assert.rejects(remoteQuery(plain, { ssl: { ca: tls.ca } }), { code: 'ECONNREFUSED' });
      const again = new pg.Client({ connectionString: plain.url });
      await again.connect();
      await again.end();

      // a --listen start does not join a server another live process runs without it
      await assert.rejects(
        startEmbeddedPostgres({ home, listen: { address: ADDR, cert: tls.cert, key: tls.key } }),
        /already, started by another handoff process without --listen 127\.0\.0\.2; stop that process first/,
      );
    },
  );
});
