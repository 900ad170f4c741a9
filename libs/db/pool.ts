import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.ts';

/** The one handle on the database every lib and app takes; a kysely transaction is one too. */
export type Db = Kysely<Database>;

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** Called when an idle pooled connection fails (server restart, network cut). Default: one line on stderr. */
  onError?: (err: Error) => void;
  /**
   * The server ends a session that sits idle inside a transaction this long (default 5 s). A
   * process frozen mid-transaction (SIGSTOP, a long GC pause, a partition) would otherwise keep its
   * locks (the sweeper's, a rate-limit bucket's row, the gate lock) and stall every other executor.
   * handoff's transactions are a few statements long; none waits on anything outside Postgres.
   */
  idleInTransactionTimeoutMs?: number;
}

export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'handoff',
    // Fail a checkout instead of waiting forever when the server is gone.
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    options: `-c idle_in_transaction_session_timeout=${opts.idleInTransactionTimeoutMs ?? 5000}`,
  });
  // An idle client that loses its connection emits 'error' on the pool; unhandled, that
  // would crash the process. The pool already discards the client, so logging is enough.
  const onError =
    opts.onError ??
    ((err: Error) => {
      console.warn(`[handoff/db] idle Postgres connection failed: ${err.message}`);
    });
  // After end() the pool has let its connections go; a server that shuts down meanwhile (handoff
  // stops its embedded Postgres right after) still tells them so, which is no news.
  pool.on('error', (err) => {
    if (!pool.ending) onError(err);
  });
  // A client checked out of the pool (kysely holds one per query or transaction) has no 'error'
  // listener: pg-pool removes its own at checkout. When the server goes away mid-checkout (restart,
  // network cut) pg rejects the query in flight and also emits 'error' on the client, which with no
  // listener is an uncaught exception that kills the process. The rejection already reaches the
  // caller, and the pool discards the broken client when it is released, so nothing else to do.
  pool.on('connect', (client) => {
    client.on('error', () => {});
  });
  return pool;
}

/** `db.destroy()` ends the pool, but only once the db has run a query; check `pool.ended` before `pool.end()`. */
export function createDb(pool: pg.Pool): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * What to log of a pg error: pg-pool hangs the whole client (connection parameters and all) on
 * the errors it emits, which a logger would print in full.
 */
export function pgErrorFields(err: unknown): { message: string; code?: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? { message: err.message, code } : { message: err.message };
}
