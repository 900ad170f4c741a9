import type pg from 'pg';
import type { BackupManifest } from '@handoff/contracts';

/** backup_runs (migration 012): written `running` first, so a backup that never finished shows too. */
export type BackupKind = 'scheduled' | 'manual';

export async function recordStart(pool: pg.Pool, kind: BackupKind, dir: string): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO backup_runs (kind, dir) VALUES ($1, $2) RETURNING id::text AS id`,
    [kind, dir],
  );
  return rows[0]!.id;
}

export async function recordOk(pool: pg.Pool, id: string, dir: string, manifest: BackupManifest): Promise<void> {
  await pool.query(
    `UPDATE backup_runs SET status = 'ok', finished_at = clock_timestamp(), dir = $2, manifest = $3 WHERE id = $1`,
    [id, dir, JSON.stringify(manifest)],
  );
}

export async function recordFailed(pool: pg.Pool, id: string, error: string): Promise<void> {
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
