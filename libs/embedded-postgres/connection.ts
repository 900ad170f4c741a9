import pg from 'pg';
import { EMBEDDED_DATABASE, errCode, SUPERUSER } from './config.ts';

export type Probe = 'ok' | 'refused' | 'not_ready';

/** Whether the server on `port` answers with this password; a wrong password is an error, not a state. */
export async function probe(port: number, password: string): Promise<Probe> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password,
    database: 'postgres',
    connectionTimeoutMillis: 3_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'ok';
  } catch (err) {
    const code = errCode(err);
    if (code === '28P01' || code === '28000') {
      throw new Error(
        `the embedded Postgres on 127.0.0.1:${port} rejected the password in pg.json; ` +
          'pg.json does not belong to this data directory',
        { cause: err },
      );
    }
    return code === 'ECONNREFUSED' ? 'refused' : 'not_ready';
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates database `handoff` when missing (another launcher may create it at the same moment). */
export async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
    if (rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(EMBEDDED_DATABASE)}`);
      } catch (err) {
        // Another launcher created it first.
        if (errCode(err) !== '42P04' && errCode(err) !== '23505') throw err;
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
}
