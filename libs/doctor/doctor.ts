import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { DoctorCheck, DoctorReport } from '@handoff/contracts';
import { worstStatus } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import handoffPackage from '../../package.json' with { type: 'json' };
import { backupChecks, walArchivingChecks } from './checks/backups.ts';
import { line } from './checks/check.ts';
import { databaseChecks, shippedMigrations } from './checks/database.ts';
import { diskChecks } from './checks/disk.ts';
import { executorChecks } from './checks/executors.ts';
import { fileModeChecks } from './checks/files.ts';
import { intentChecks } from './checks/intents.ts';
import { modelNodeChecks } from './checks/modelNodes.ts';
import { tlsChecks } from './checks/tls.ts';

/** A family that throws is one fail line naming it, never a crashed report. */
async function guarded(family: string, run: () => Promise<DoctorCheck[]>): Promise<DoctorCheck[]> {
  try {
    return await run();
  } catch (err) {
    return [
      line(
        family,
        'fail',
        `the check could not run: ${(err as Error).message}`,
        'read the coordinator log; run doctor again',
      ),
    ];
  }
}

function schemaVersion(names: string[]): number {
  return Math.max(0, ...names.map((n) => Number(/^(\d+)_/.exec(n)?.[1] ?? 0)));
}

/** The data directory whose disk doctor measures: the embedded Postgres's under the home, else the home. */
export function dataDirOf(home: string): string {
  const pg = join(home, 'pg');
  return existsSync(pg) ? pg : home;
}

/** What only the database knows: reachable, migrated, executors, intents, backups, WAL, model nodes. */
export async function databaseDoctor(db: Db): Promise<DoctorCheck[]> {
  const shipped = shippedMigrations();
  const base = await guarded('database', () => databaseChecks(db, shipped));
  if (base.some((c) => c.check === 'database' && c.status === 'fail')) return base;
  const applied = await sql<{ name: string }>`SELECT name FROM handoff_migrations`
    .execute(db)
    .then((r) => r.rows.map((row) => row.name))
    .catch(() => [] as string[]);
  const families = await Promise.all([
    guarded('executors', () =>
      executorChecks(db, { version: handoffPackage.version, schemaVersion: schemaVersion(applied) }),
    ),
    guarded('intents', () => intentChecks(db)),
    guarded('model nodes', () => modelNodeChecks(db)),
    guarded('backup', () => backupChecks(db)),
    guarded('wal archiving', () => walArchivingChecks(db)),
  ]);
  return [...base, ...families.flat()];
}

/** What the files of one $HANDOFF_HOME say: modes of the credential files, TLS certificates. */
export async function homeDoctor(home: string): Promise<DoctorCheck[]> {
  const families = await Promise.all([
    guarded('files', () => fileModeChecks(home)),
    guarded('tls', () => tlsChecks(home)),
  ]);
  return families.flat();
}

/** The coordinator's full report: the database's checks, then its home's disk and files. */
export async function coordinatorDoctor(db: Db, home: string): Promise<DoctorReport> {
  const [database, disk, files] = await Promise.all([
    databaseDoctor(db),
    guarded('disk', () => diskChecks(dataDirOf(home))),
    homeDoctor(home),
  ]);
  return toReport([...database, ...disk, ...files]);
}

export function toReport(checks: DoctorCheck[], now: Date = new Date()): DoctorReport {
  return { generatedAt: now.toISOString(), status: worstStatus(checks.map((c) => c.status)), checks };
}
