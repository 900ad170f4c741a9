import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Db } from '@handoff/db';
import handoffPackage from '../../package.json' with { type: 'json' };

/*
 * What this executor is, for its heartbeat and for the check that it suits the database
 * (decision 90): handoff's version, and the schema version its code was written for.
 */

/** handoff's own version (the root package.json). */
export const HANDOFF_VERSION: string = handoffPackage.version;

/** A migration file's number: `006_fleet_policy.sql` is schema version 6. */
export function schemaVersionOf(migrationNames: Iterable<string>): number {
  let highest = 0;
  for (const name of migrationNames) {
    const n = /^(\d+)_.*\.sql$/.exec(name);
    if (n) highest = Math.max(highest, Number(n[1]));
  }
  return highest;
}

/** The schema version this code expects: the highest migration it ships. */
export function expectedSchemaVersion(dir: URL = new URL('../../migrations/', import.meta.url)): number {
  return schemaVersionOf(readdirSync(fileURLToPath(dir)));
}

/** The database's schema version: the highest migration applied to it (libs/db migrate.ts records them). */
export async function databaseSchemaVersion(db: Db): Promise<number> {
  const { rows } = await sql<{ name: string }>`SELECT name FROM handoff_migrations`.execute(db);
  return schemaVersionOf(rows.map((r) => r.name));
}

/**
 * Null when this executor and the database suit each other, else the one sentence that says why
 * it will not start. A database ahead of the executor has tables or rules its code does not know;
 * one behind it lacks what the code uses (an executor that may migrate has already caught it up).
 */
export function schemaMismatch(expected: number, database: number, version = HANDOFF_VERSION): string | null {
  if (database > expected)
    return (
      `this executor (handoff ${version}) is too old for the database: it expects schema version ${expected} ` +
      `but the database is at ${database}; upgrade handoff on this node, then start it again`
    );
  if (database < expected)
    return (
      `the database is at schema version ${database} but this executor (handoff ${version}) expects ${expected}; ` +
      'upgrade and start the coordinator first (it migrates the database), then start this executor again'
    );
  return null;
}
