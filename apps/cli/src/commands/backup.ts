import path from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { defaultBackupDir, embeddedSourceFor, takeBackup } from '@handoff/backup';
import { createPool, resolveDatabase } from '@handoff/db';
import { handoffHome } from '../config.ts';
import { out } from '../context.ts';
import { CliError } from '../errors.ts';
import { duration } from '../format.ts';

/**
 * `handoff backup [--to DIR]`: on the embedded Postgres a physical backup (pg_backup_start/stop with
 * the WAL it needs), on DATABASE_URL a pg_dump; either way a manifest with the time, schema version,
 * row counts and the sha256 of every file. Needs no coordinator: it joins (or starts) the home's
 * Postgres itself.
 */
interface BackupOptions {
  to?: string;
  json?: boolean;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export async function runBackup(options: BackupOptions): Promise<void> {
  const home = handoffHome();
  const to = path.resolve(options.to ?? defaultBackupDir(home));
  const resolved = await resolveDatabase({ home, log: quiet });
  const pool = createPool(resolved.url, { max: 2, applicationName: 'handoff-backup' });
  try {
    const embedded = resolved.embedded ? await embeddedSourceFor(home, resolved.url) : undefined;
    const taken = await takeBackup({ url: resolved.url, pool, embedded, to, kind: 'manual' }).catch((err: unknown) => {
      throw new CliError(`backup failed: ${err instanceof Error ? err.message : String(err)}`);
    });
    const { manifest } = taken;
    const bytes = manifest.files.reduce((n, f) => n + f.size, 0);
    if (options.json) {
      out(JSON.stringify({ dir: taken.dir, ms: Math.round(taken.ms), bytes, manifest }));
      return;
    }
    const counts = Object.entries(manifest.counts)
      .map(([t, n]) => `${n} ${t}`)
      .join(', ');
    out(
      `backup written to ${taken.dir} (${manifest.method === 'physical' ? 'physical, with its WAL' : 'pg_dump'}, ` +
        `${(bytes / 1e6).toFixed(1)} MB, ${duration(taken.ms)})\n  ${counts}; schema ${manifest.schemaVersion}\n` +
        `  restore it with: handoff restore ${taken.dir}`,
    );
  } finally {
    await pool.end().catch(() => {});
    await resolved.stop();
  }
}

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description(
      'back up the database with a manifest (row counts, sha256 of every file): physical on the embedded Postgres, pg_dump on DATABASE_URL',
    )
    .addOption(new Option('--to <dir>', 'where to write it (default $HANDOFF_HOME/backups)'))
    .addOption(new Option('--json', 'print {dir, ms, bytes, manifest} as JSON'))
    .action(runBackup);
}
