import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { DoctorCheck } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { isMissingTable, line } from './check.ts';

/** A migration file's number: `006_fleet_policy.sql` is schema version 6 (as apps/executor/versions.ts). */
function versionOf(names: Iterable<string>): number {
  let highest = 0;
  for (const name of names) {
    const n = /^(\d+)_.*\.sql$/.exec(name);
    if (n) highest = Math.max(highest, Number(n[1]));
  }
  return highest;
}

export function shippedMigrations(dir: URL = new URL('../../../migrations/', import.meta.url)): string[] {
  return readdirSync(fileURLToPath(dir)).filter((n) => n.endsWith('.sql'));
}

/** The database answers, and every migration this code ships is applied (and none it does not know). */
export async function databaseChecks(db: Db, shipped: string[] = shippedMigrations()): Promise<DoctorCheck[]> {
  let serverVersion: string;
  try {
    const { rows } = await sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(db);
    serverVersion = rows[0]?.v ?? '?';
  } catch (err) {
    return [
      line(
        'database',
        'fail',
        `Postgres does not answer: ${(err as Error).message}`,
        'check that Postgres runs and DATABASE_URL points at it (the embedded one: `handoff start`)',
      ),
    ];
  }
  const checks = [line('database', 'ok', `Postgres ${serverVersion} answers`)];
  let applied: string[];
  try {
    applied = (await sql<{ name: string }>`SELECT name FROM handoff_migrations`.execute(db)).rows.map((r) => r.name);
  } catch (err) {
    if (!isMissingTable(err)) throw err;
    applied = [];
  }
  const done = new Set(applied);
  const missing = shipped.filter((n) => !done.has(n)).sort();
  const unknown = applied.filter((n) => !shipped.includes(n)).sort();
  const expected = versionOf(shipped);
  if (missing.length > 0)
    checks.push(
      line(
        'migrations',
        'fail',
        `the database lacks ${missing.length} migration(s) of this version: ${missing.join(', ')}`,
        'start the coordinator of this version (it migrates the database before it serves)',
      ),
    );
  else if (unknown.length > 0)
    checks.push(
      line(
        'migrations',
        'warn',
        `the database has migration(s) this version does not ship: ${unknown.join(', ')} (a newer handoff ran here)`,
        'upgrade handoff here to the version that migrated the database',
      ),
    );
  else checks.push(line('migrations', 'ok', `schema version ${expected}, every migration applied`));
  return checks;
}
