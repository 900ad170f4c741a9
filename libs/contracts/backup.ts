import { z } from 'zod';
import { DurationText } from './duration.ts';

/**
 * `policy.json` `backup`: the coordinator takes a backup every `every` (a pg-boss job, so two
 * coordinators never both take it), keeps the newest `keep` in `dir` (default
 * `$HANDOFF_HOME/backups`) and prunes the WAL archive to what the oldest kept one needs.
 */
export const BackupPolicy = z.strictObject({
  every: DurationText.refine((s) => s >= 300, 'must be at least 5m'),
  keep: z.int().min(1).max(10_000).default(28),
  dir: z.string().min(1).optional(),
});
export type BackupPolicy = z.infer<typeof BackupPolicy>;

/** What a backup copied: one file, its size and sha256, relative to the backup's directory. */
export const BackupFile = z.strictObject({
  path: z.string().min(1),
  size: z.int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type BackupFile = z.infer<typeof BackupFile>;

/**
 * `manifest.json` in every backup. `physical`: the embedded Postgres's data dir taken between
 * pg_backup_start and pg_backup_stop, with the WAL it needs (`data/`, `wal/`); `pg_dump`: one
 * custom-format dump of a DATABASE_URL database (`handoff.dump`).
 */
export const BackupManifest = z.strictObject({
  format: z.literal('handoff-backup/1'),
  method: z.enum(['physical', 'pg_dump']),
  startedAt: z.iso.datetime({ offset: true }),
  finishedAt: z.iso.datetime({ offset: true }),
  /** The newest migration applied when the backup was taken. */
  schemaVersion: z.string(),
  postgresVersion: z.string(),
  /** Rows of the record tables, counted inside the backup: the restored database has at least these. */
  counts: z.record(z.string(), z.int().nonnegative()),
  /** physical: pg_backup_start's and pg_backup_stop's WAL positions; the restore is consistent from `stopLsn`. */
  startLsn: z.string().optional(),
  stopLsn: z.string().optional(),
  /** physical: the WAL archive the server wrote to, where `--to-time` finds the WAL after the backup. */
  walArchive: z.string().optional(),
  /** physical: the data dir it was taken from (its pg_wal holds the WAL not archived yet). */
  sourceDataDir: z.string().optional(),
  files: z.array(BackupFile),
});
export type BackupManifest = z.infer<typeof BackupManifest>;
