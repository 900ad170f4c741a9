import path from 'node:path';
import type { DbLog } from '@handoff/embedded-postgres';
import { restoreDump } from './dump.ts';
import { readManifest, verifyChecksums } from './manifest.ts';
import { restorePhysical } from './physicalRestore.ts';
import type { RecoveryTarget, RestoreResult } from './physicalRestore.ts';

export interface RestoreOptions {
  backupDir: string;
  /** The target home (its embedded Postgres), when `databaseUrl` is not set. */
  home: string;
  /** DATABASE_URL: a pg_dump backup is restored there. */
  databaseUrl?: string;
  target: RecoveryTarget;
  force: boolean;
  walDirs?: string[];
  log?: DbLog;
}

export interface Restored extends RestoreResult {
  method: 'physical' | 'pg_dump';
  ms: number;
}

/**
 * Checks the backup's checksums first (a damaged backup touches nothing), then restores it by its
 * method and checks the restored row counts against the manifest. Says how long it took.
 */
export async function restoreBackup(opts: RestoreOptions): Promise<Restored> {
  const t0 = performance.now();
  const backupDir = path.resolve(opts.backupDir);
  const manifest = await readManifest(backupDir);
  await verifyChecksums(backupDir, manifest);
  if (manifest.method === 'physical') {
    if (opts.databaseUrl) {
      throw new Error(
        'this is a physical backup of an embedded Postgres: it restores into a HANDOFF_HOME; unset DATABASE_URL',
      );
    }
    const result = await restorePhysical({ ...opts, backupDir, manifest });
    return { ...result, method: 'physical', ms: performance.now() - t0 };
  }
  if (!opts.databaseUrl) {
    throw new Error(
      'this is a pg_dump backup of your own Postgres: set DATABASE_URL to the (empty) database to restore it into',
    );
  }
  if (opts.target.kind !== 'backup') {
    throw new Error('--to-time needs a physical backup with its WAL archive; a pg_dump backup restores only as taken');
  }
  const result = await restoreDump({ url: opts.databaseUrl, backupDir, manifest, force: opts.force });
  return { ...result, method: 'pg_dump', ms: performance.now() - t0 };
}
