import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, createPool, migrate } from '@handoff/db';
import type { Db } from '@handoff/db';

export interface TestDatabase {
  url: string;
  name: string;
  pool: pg.Pool;
  db: Db;
  /** Ends the pool and drops the database, even with other connections still open; idempotent. */
  drop(): Promise<void>;
}

/** The same server and credentials as `serverUrl`, database `dbName`. */
export function databaseUrlFor(serverUrl: string, dbName: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(dbName)}`;
  return url.toString();
}

export function testServerUrl(): string {
  const url = process.env.DATABASE_URL;
  if (url === undefined || url === '') {
    throw new Error(
      'DATABASE_URL is not set. Run tests through `npm test` (test/run.ts starts an embedded Postgres ' +
        'and sets it), or set DATABASE_URL to a server where this user may CREATE DATABASE.',
    );
  }
  return url;
}

async function onMaintenanceDb<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrlFor(serverUrl, 'postgres') });
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A fresh database `handoff_t_<random>` on the DATABASE_URL server, migrated unless
 * `migrate: false`. Each test gets its own, so tests never see each other's rows.
 */
export async function createTestDatabase(opts: { migrate?: boolean; max?: number } = {}): Promise<TestDatabase> {
  const serverUrl = testServerUrl();
  const name = `handoff_t_${randomBytes(6).toString('hex')}`;
  await onMaintenanceDb(serverUrl, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
  const url = databaseUrlFor(serverUrl, name);
  const pool = createPool(url, { max: opts.max ?? 5, applicationName: 'handoff-test' });
  const db = createDb(pool);
  let dropping: Promise<void> | undefined;
  const drop = (): Promise<void> => {
    dropping ??= (async () => {
      // Kysely ends the pool only if the db was used; the rest is ours to end.
      await db.destroy().catch(() => {});
      if (!pool.ended) await pool.end().catch(() => {});
      await onMaintenanceDb(serverUrl, (c) =>
        c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`),
      );
    })();
    return dropping;
  };
  if (opts.migrate !== false) {
    try {
      await migrate(pool);
    } catch (err) {
      await drop();
      throw err;
    }
  }
  return { url, name, pool, db, drop };
}

/** The rows of one statement on a connection of its own. */
export async function queryRows<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
