import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { restoreBackup } from '@handoff/backup';
import type { RecoveryTarget } from '@handoff/backup';
import { handoffHome } from '../config.ts';
import { out } from '../context.ts';
import { CliError, UsageError } from '../errors.ts';
import { duration } from '../format.ts';

/**
 * `handoff restore BACKUP [--to-time T | --latest] [--force]`: into a stopped installation (this
 * HANDOFF_HOME's embedded Postgres, or the DATABASE_URL database for a pg_dump backup). Checks the
 * backup's checksums first and its row counts after, and says how long it took.
 */
interface RestoreOptions {
  toTime?: Date;
  latest?: boolean;
  force?: boolean;
  wal?: string[];
  json?: boolean;
}

function parseTime(value: string): Date {
  // a time without a zone would be read in the machine's zone: ask for one
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(value.trim()) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('must be an ISO 8601 time with a zone, e.g. 2026-12-03T18:00:00Z');
  }
  return new Date(value);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export async function runRestore(backup: string, options: RestoreOptions): Promise<void> {
  if (options.toTime && options.latest) throw new UsageError('--to-time and --latest: give one of them');
  const target: RecoveryTarget = options.toTime
    ? { kind: 'time', at: options.toTime }
    : options.latest
      ? { kind: 'latest' }
      : { kind: 'backup' };
  const home = handoffHome();
  const databaseUrl = process.env.DATABASE_URL || undefined;
  const quiet = { debug() {}, info() {}, warn() {}, error() {} };
  const restored = await restoreBackup({
    backupDir: backup,
    home,
    databaseUrl,
    target,
    force: options.force === true,
    walDirs: options.wal,
    log: quiet,
  }).catch((err: unknown) => {
    throw new CliError(`restore failed: ${err instanceof Error ? err.message : String(err)}`);
  });
  if (options.json) {
    out(JSON.stringify({ ...restored, ms: Math.round(restored.ms), into: databaseUrl ? 'DATABASE_URL' : home }));
    return;
  }
  const counts = Object.entries(restored.counts)
    .map(([t, n]) => `${n} ${t}`)
    .join(', ');
  const into = databaseUrl ? 'the DATABASE_URL database' : home;
  const until =
    target.kind === 'time'
      ? ` as of ${target.at.toISOString()}`
      : target.kind === 'latest'
        ? ' with every archived change since'
        : '';
  out(
    `restored ${backup}${until} into ${into} in ${duration(restored.ms)}: checksums ok, ${counts} ` +
      `(at least the backup's counts); schema ${restored.schemaVersion}\n  start handoff there: handoff start`,
  );
}

export function registerRestoreCommand(program: Command): void {
  program
    .command('restore')
    .description('restore a backup into this stopped installation; checks checksums before and row counts after')
    .argument('<backup>', 'a backup directory that `handoff backup` wrote')
    .addOption(
      new Option(
        '--to-time <time>',
        'point in time: replay the WAL archive up to this moment (ISO 8601 with a zone)',
      ).argParser(parseTime),
    )
    .addOption(new Option('--latest', 'replay every change the WAL archive holds since the backup'))
    .addOption(new Option('--force', 'replace an installation that already holds a database'))
    .addOption(new Option('--wal <dir>', 'another WAL archive to read (repeatable)').argParser(collect))
    .addOption(new Option('--json', 'print the result as JSON'))
    .action(runRestore);
}
