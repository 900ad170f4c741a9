import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { LOCK_MIGRATIONS } from './advisoryLocks.ts';

const DEFAULT_DIR = new URL('../../migrations/', import.meta.url);

export interface MigrateOptions {
  dir?: string | URL;
  log?: (msg: string) => void;
}

export class MigrationChecksumError extends Error {
  readonly file: string;
  constructor(file: string, recorded: string, actual: string) {
    super(
      `migration ${file} was changed after it was applied (recorded sha256 ${recorded}, file now ${actual}); ` +
        'applied migrations are never edited: restore the file and add a new numbered migration instead',
    );
    this.name = 'MigrationChecksumError';
    this.file = file;
  }
}

interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

async function readMigrations(dir: string): Promise<MigrationFile[]> {
  // Default sort compares UTF-16 code units: plain lexical order, independent of locale.
  const names = (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort();
  return Promise.all(
    names.map(async (name) => {
      const buf = await readFile(path.join(dir, name));
      return { name, sql: buf.toString('utf8'), checksum: createHash('sha256').update(buf).digest('hex') };
    }),
  );
}

/**
 * Applies every migration file not yet recorded in handoff_migrations, in lexical order, each in
 * its own transaction. Concurrent callers (any number of processes) serialise on one advisory
 * lock, so each file runs exactly once; a later caller finds it recorded and skips it.
 */
export async function migrate(pool: pg.Pool, opts: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const dirOpt = opts.dir ?? DEFAULT_DIR;
  const dir = dirOpt instanceof URL ? fileURLToPath(dirOpt) : dirOpt;
  const log = opts.log ?? (() => {});
  const files = await readMigrations(dir);

  const client = await pool.connect();
  let broken = false;
  try {
    // Session-level lock on this one client: held across all the per-file transactions.
    await client.query('SELECT pg_advisory_lock($1::bigint)', [LOCK_MIGRATIONS]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS handoff_migrations (
        name       text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        checksum   text NOT NULL
      )`);
      const { rows } = await client.query<{ name: string; checksum: string }>(
        'SELECT name, checksum FROM handoff_migrations',
      );
      const recorded = new Map(rows.map((r) => [r.name, r.checksum]));

      // Check every applied file before applying anything, so a tampered history changes nothing.
      for (const f of files) {
        const sum = recorded.get(f.name);
        if (sum !== undefined && sum !== f.checksum) throw new MigrationChecksumError(f.name, sum, f.checksum);
      }
      const known = new Set(files.map((f) => f.name));
      for (const name of recorded.keys()) {
        if (!known.has(name))
          log(`migration ${name} is recorded in the database but has no file in ${dir} (newer code ran here?)`);
      }

      const applied: string[] = [];
      for (const f of files) {
        if (recorded.has(f.name)) continue;
        const started = performance.now();
        await client.query('BEGIN');
        try {
          await client.query(f.sql);
          await client.query('INSERT INTO handoff_migrations (name, checksum) VALUES ($1, $2)', [f.name, f.checksum]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {
            broken = true;
          });
          const msg = err instanceof Error ? err.message : String(err);
          throw new Error(`migration ${f.name} failed and was rolled back: ${msg}`, { cause: err });
        }
        applied.push(f.name);
        log(`applied migration ${f.name} in ${Math.round(performance.now() - started)} ms`);
      }
      return { applied };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [LOCK_MIGRATIONS]).catch(() => {
        broken = true;
      });
    }
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    // A client in an unknown state is destroyed, not pooled: closing its session also drops the lock.
    client.release(broken);
  }
}
