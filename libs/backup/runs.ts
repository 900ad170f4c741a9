import path from 'node:path';
import type pg from 'pg';
import type { BackupManifest } from '@handoff/contracts';

/** backup_runs (migration 012): written `running` first, so a backup that never finished shows too. */
export type BackupKind = 'scheduled' | 'manual';

/** The run's id; undefined on a database that predates migration 012 (its next start adds the table). */
export async function recordStart(pool: pg.Pool, kind: BackupKind, dir: string): Promise<string | undefined> {
  try {
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO backup_runs (kind, dir) VALUES ($1, $2) RETURNING id::text AS id`,
      [kind, dir],
    );
    return rows[0]!.id;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return undefined;
    throw err;
  }
}

export async function recordOk(
  pool: pg.Pool,
  id: string | undefined,
  dir: string,
  manifest: BackupManifest,
): Promise<void> {
  if (id === undefined) return;
  await pool.query(
    `UPDATE backup_runs SET status = 'ok', finished_at = clock_timestamp(), dir = $2, manifest = $3 WHERE id = $1`,
    [id, dir, JSON.stringify(manifest)],
  );
}

export async function recordFailed(pool: pg.Pool, id: string | undefined, error: string): Promise<void> {
  if (id === undefined) return;
  await pool.query(
    `UPDATE backup_runs SET status = 'failed', finished_at = clock_timestamp(), error = $2 WHERE id = $1`,
    [id, error],
  );
}

/** When the newest scheduled backup started (ok, failed or running), for the schedule's next slot. */
export async function lastScheduledStart(pool: pg.Pool): Promise<Date | undefined> {
  const { rows } = await pool.query<{ at: Date | null }>(
    `SELECT max(started_at) AS at FROM backup_runs WHERE kind = 'scheduled'`,
  );
  return rows[0]?.at ?? undefined;
}

/**
 * In a restored database, the backup's own backup_runs row is still `running`: it was written before
 * the copy began, and finished only in the source. It is finished here as it finished there (`ok`,
 * this manifest), so a restored installation shows no backup running forever.
 */
export async function settleRestoredRun(
  client: pg.ClientBase,
  backupDir: string,
  manifest: BackupManifest,
): Promise<void> {
  try {
    await client.query(
      `UPDATE backup_runs SET status = 'ok', finished_at = $2, dir = $3, manifest = $4
       WHERE status = 'running' AND (dir = $1 OR dir = $3)`,
      [path.dirname(backupDir), manifest.finishedAt, backupDir, JSON.stringify(manifest)],
    );
  } catch (err) {
    if ((err as { code?: string }).code !== '42P01') throw err;
  }
}
