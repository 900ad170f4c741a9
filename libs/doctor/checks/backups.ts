import { sql } from 'kysely';
import type { DoctorCheck } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { ageText, isMissingTable, line, missingTable } from './check.ts';

/** A daily backup plus slack before a warning; three missed days fail. */
export const BACKUP_WARN_HOURS = 26;
export const BACKUP_FAIL_HOURS = 72;
/** WAL segments finished but not yet archived before a warning (archive_timeout is 60 s for the embedded one). */
export const WAL_WARN_SEGMENTS = 4;

/** The last backup that finished ok (backup_runs, migration 012), and one that failed after it. */
export async function backupChecks(db: Db): Promise<DoctorCheck[]> {
  try {
    const { rows } = await sql<{ ok_age_ms: number | null; failed_error: string | null; failed_age_ms: number | null }>`
      WITH last_ok AS (
        SELECT max(finished_at) AS at FROM backup_runs WHERE status = 'ok'
      ), last_failed AS (
        SELECT error, finished_at FROM backup_runs
        WHERE status = 'failed' AND finished_at > coalesce((SELECT at FROM last_ok), '-infinity')
        ORDER BY finished_at DESC LIMIT 1
      )
      SELECT (extract(epoch FROM clock_timestamp() - (SELECT at FROM last_ok)) * 1000)::float8 AS ok_age_ms,
        (SELECT error FROM last_failed) AS failed_error,
        (extract(epoch FROM clock_timestamp() - (SELECT finished_at FROM last_failed)) * 1000)::float8 AS failed_age_ms`.execute(
      db,
    );
    const r = rows[0];
    const failedSince =
      r?.failed_age_ms != null
        ? `; the last attempt failed ${ageText(r.failed_age_ms)} ago: ${r.failed_error ?? ''}`
        : '';
    const todo = 'run `handoff backup` now and read docs/operations.md "Backups and restore" for the schedule';
    if (r?.ok_age_ms == null) return [line('backup', 'warn', `no backup has finished yet${failedSince}`, todo)];
    const hours = r.ok_age_ms / 3_600_000;
    const found = `the last good backup finished ${ageText(r.ok_age_ms)} ago${failedSince}`;
    if (hours >= BACKUP_FAIL_HOURS) return [line('backup', 'fail', found, todo)];
    if (hours >= BACKUP_WARN_HOURS || failedSince) return [line('backup', 'warn', found, todo)];
    return [line('backup', 'ok', found)];
  } catch (err) {
    if (isMissingTable(err)) return [missingTable('backup', 'backup_runs')];
    throw err;
  }
}

/** The start of a WAL file's segment: name is timeline, log id, segment (8 hex digits each). */
function segmentStart(walFile: string, segmentBytes: bigint): bigint | null {
  const m = /^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})$/i.exec(walFile);
  if (!m) return null;
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`) * segmentBytes;
}

/** WAL archiving (pg_stat_archiver): failing now, or finished segments waiting to be archived. */
export async function walArchivingChecks(db: Db): Promise<DoctorCheck[]> {
  const { rows } = await sql<{
    mode: string;
    segment: string;
    current_lsn: string | null;
    last_archived_wal: string | null;
    failed_newer: boolean;
    last_failed_wal: string | null;
  }>`
    SELECT current_setting('archive_mode') AS mode,
      pg_size_bytes(current_setting('wal_segment_size'))::text AS segment,
      CASE WHEN pg_is_in_recovery() THEN NULL
        ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text END AS current_lsn,
      last_archived_wal, last_failed_wal,
      coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) AS failed_newer
    FROM pg_stat_archiver`.execute(db);
  const r = rows[0];
  if (!r || r.mode === 'off')
    return [
      line('wal archiving', 'ok', 'WAL archiving is off on this Postgres: a restore goes back to the last backup'),
    ];
  if (r.failed_newer)
    return [
      line(
        'wal archiving',
        'fail',
        `archiving WAL fails (last failed: ${r.last_failed_wal ?? '?'}); Postgres keeps the WAL until it succeeds, so the disk fills`,
        "read the Postgres log for archive_command's error (the embedded one: $HANDOFF_HOME/pg/log) and fix the archive directory",
      ),
    ];
  if (r.current_lsn === null) return [line('wal archiving', 'ok', 'this Postgres is a standby; its primary archives')];
  if (!r.last_archived_wal)
    return [
      line('wal archiving', 'ok', 'no WAL segment archived yet (one is, once it fills or archive_timeout passes)'),
    ];
  const size = BigInt(r.segment);
  const start = segmentStart(r.last_archived_wal, size);
  if (start === null) return [line('wal archiving', 'ok', `last archived ${r.last_archived_wal}`)];
  // finished segments after the last archived one; the segment being written does not count
  const waiting = Number((BigInt(r.current_lsn) - (start + size)) / size);
  if (waiting >= WAL_WARN_SEGMENTS)
    return [
      line(
        'wal archiving',
        'warn',
        `${waiting} finished WAL segment(s) wait to be archived`,
        "check that archive_command keeps up (the Postgres log says why it does not) and the archive's disk has room",
      ),
    ];
  return [line('wal archiving', 'ok', `archiving keeps up (${Math.max(0, waiting)} segment(s) waiting)`)];
}
