import fsp from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { SUPERUSER } from './config.ts';
import type { OsIds } from './osUser.ts';

/**
 * `handoff --listen ADDR`: the embedded Postgres listens on ADDR as well as 127.0.0.1, and anything
 * that does not come from 127.0.0.1 must use TLS (the coordinator's certificate) and a scram-sha-256
 * password: pg_hba.conf has `hostssl` rules only for it, so a plain connection finds no rule and is
 * refused. Without --listen the server listens on 127.0.0.1 only, with loopback rules only.
 */

export interface EmbeddedListen {
  /** An IP address or host name; `0.0.0.0`, `::` or `*` for every interface. */
  address: string;
  /** PEM: the server certificate (and its chain). */
  cert: string;
  /** PEM: its private key. */
  key: string;
}

/** In the data dir, where Postgres looks by default, owned by the user Postgres runs as. */
const CERT_FILE = 'server.crt';
const KEY_FILE = 'server.key';

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '*']);

const MARK = '# Written by handoff at every start with --listen';
const PG_HBA = `${MARK} (libs/embedded-postgres/listen.ts): edits are lost.
# This machine's own processes, over loopback: a password.
host    all  all  127.0.0.1/32  scram-sha-256
host    all  all  ::1/128       scram-sha-256
# Everyone else: TLS and a password, or no rule at all (a plain connection is refused).
hostssl all  all  0.0.0.0/0     scram-sha-256
hostssl all  all  ::/0          scram-sha-256
`;

/** What initdb --auth=scram-sha-256 wrote, less replication: put back when a start without --listen follows one with it. */
const PG_HBA_LOOPBACK = `# Written by handoff (libs/embedded-postgres/listen.ts): loopback only, as without --listen.
host    all  all  127.0.0.1/32  scram-sha-256
host    all  all  ::1/128       scram-sha-256
`;

/** The `-c` flags for the postmaster: where it listens, and TLS when it listens beyond loopback. */
export function listenFlags(listen: EmbeddedListen | undefined): string[] {
  if (!listen) return ['-c', 'listen_addresses=127.0.0.1'];
  const address = listen.address.replace(/^\[(.*)\]$/, '$1');
  // A wildcard already covers 127.0.0.1 (and binding both would clash on the port).
  const addresses = WILDCARDS.has(listen.address) ? '*' : address === '127.0.0.1' ? address : `127.0.0.1,${address}`;
  return [
    '-c',
    `listen_addresses=${addresses}`,
    '-c',
    'ssl=on',
    '-c',
    `ssl_cert_file=${CERT_FILE}`,
    '-c',
    `ssl_key_file=${KEY_FILE}`,
    '-c',
    'ssl_min_protocol_version=TLSv1.2',
    '-c',
    'password_encryption=scram-sha-256',
  ];
}

async function writeOwned(file: string, text: string, mode: number, runAs: OsIds | undefined): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, text, { mode });
  await fsp.chmod(tmp, mode);
  // Postgres refuses a key that is not its user's own with mode 0600 (or root's with 0640)
  if (runAs) await fsp.chown(tmp, runAs.uid, runAs.gid);
  await fsp.rename(tmp, file);
}

/** Puts the certificate, its key and the hostssl-only pg_hba.conf into the data dir, before the postmaster starts. */
export async function prepareListen(dataDir: string, listen: EmbeddedListen, runAs: OsIds | undefined): Promise<void> {
  await writeOwned(path.join(dataDir, CERT_FILE), listen.cert, 0o644, runAs);
  await writeOwned(path.join(dataDir, KEY_FILE), listen.key, 0o600, runAs);
  await writeOwned(path.join(dataDir, 'pg_hba.conf'), PG_HBA, 0o600, runAs);
}

/** A start without --listen after one with it: loopback rules again, so that no hostssl rule lingers for ssl=off. */
export async function forgetListen(dataDir: string, runAs: OsIds | undefined): Promise<void> {
  const file = path.join(dataDir, 'pg_hba.conf');
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  if (text.startsWith(MARK)) await writeOwned(file, PG_HBA_LOOPBACK, 0o600, runAs);
}

/**
 * Whether a server another process started (and this one is about to join) listens as `listen`
 * asks: a `--listen` coordinator that silently joined a loopback-only, TLS-less server would
 * tell its nodes an address nobody answers on.
 */
export async function listensAsAsked(port: number, password: string, listen: EmbeddedListen): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ ssl: string; addresses: string }>(
      "SELECT current_setting('ssl') AS ssl, current_setting('listen_addresses') AS addresses",
    );
    const wanted = listenFlags(listen)
      .find((f) => f.startsWith('listen_addresses='))!
      .slice('listen_addresses='.length);
    return rows[0]?.ssl === 'on' && rows[0]?.addresses === wanted;
  } finally {
    await client.end().catch(() => {});
  }
}
