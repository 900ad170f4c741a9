import { existsSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { BackupManifest } from '@handoff/contracts';
import {
  isRoot,
  isRunningPostgres,
  postgresUser,
  prepareDataDir,
  readPostmasterPid,
  startEmbeddedPostgres,
  toLevelLogger,
  walArchiveDir,
  writeConfig,
  readConfig,
} from '@handoff/embedded-postgres';
import type { DbLog } from '@handoff/embedded-postgres';
import { databaseFacts, missingRows, withClient } from './database.ts';
import { chownTree } from './files.ts';
import { settleRestoredRun } from './runs.ts';
import { DATA, PG_CONFIG, WAL } from './layout.ts';

/** Where recovery stops: the backup as taken, a moment after it, or the end of the archived WAL. */
export type RecoveryTarget = { kind: 'backup' } | { kind: 'time'; at: Date } | { kind: 'latest' };

export interface PhysicalRestoreOptions {
  backupDir: string;
  manifest: BackupManifest;
  /** The target $HANDOFF_HOME; its embedded Postgres must be stopped. */
  home: string;
  target: RecoveryTarget;
  /** Replace a home that already holds a database. */
  force: boolean;
  /** More WAL archives to read (the source's is read when it still exists). */
  walDirs?: string[];
  log?: DbLog;
}

export interface RestoreResult {
  counts: Record<string, number>;
  schemaVersion: string;
}

/** A string for postgresql.conf: backslashes and single quotes escaped (the conf parser reads both). */
export function confString(s: string): string {
  return `'${s.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

/** A word for sh, `%` doubled because Postgres expands `%` in restore_command first. */
function shellWord(s: string): string {
  return `'${s.replaceAll("'", "'\\''").replaceAll('%', '%%')}'`;
}

/** restore_command: each dir in turn, a gzip'd segment (as archive_command wrote it) or a plain one. */
export function restoreCommand(dirs: string[]): string {
  if (dirs.length === 0) return 'false';
  const words = dirs.map(shellWord).join(' ');
  return (
    `for d in ${words}; do if test -f "$d/%f.gz"; then gzip -dc < "$d/%f.gz" > %p && exit 0; ` +
    `elif test -f "$d/%f"; then cp "$d/%f" %p && exit 0; fi; done; exit 1`
  );
}

async function gunzipTo(from: string, to: string): Promise<void> {
  await pipeline(createReadStream(from), createGunzip(), createWriteStream(to, { mode: 0o600 }));
}

async function isEmptyDir(dir: string): Promise<boolean> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.length === 0;
}

/**
 * A physical backup into `home`: its files as the data dir, the WAL it needs into pg_wal, recovery
 * from the archive to the target, then the embedded Postgres started once to let recovery finish and
 * to count rows, and stopped again. The home's old cluster (with --force) is replaced; its WAL archive
 * is kept aside as `backups/wal.<time>`, since the restored cluster archives afresh.
 */
export async function restorePhysical(opts: PhysicalRestoreOptions): Promise<RestoreResult> {
  const log = toLevelLogger(opts.log);
  const home = path.resolve(opts.home);
  await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  const root = isRoot();
  const owner = root ? postgresUser() : undefined;
  const { manifest } = opts;

  if (opts.target.kind === 'time' && opts.target.at.getTime() < Date.parse(manifest.finishedAt)) {
    throw new Error(
      `--to-time ${opts.target.at.toISOString()} is before this backup finished (${manifest.finishedAt}); ` +
        'a point-in-time restore starts from a backup taken before that time: pick an older backup',
    );
  }

  const dataDir = (await prepareDataDir(home, root, log)).path;
  const running = readPostmasterPid(dataDir);
  if (running && isRunningPostgres(running.pid)) {
    throw new Error(
      `the embedded Postgres of ${home} is running (pid ${running.pid}); stop handoff there first: restore replaces its data`,
    );
  }
  const archive = walArchiveDir(dataDir);
  const sources = [...(opts.walDirs ?? [])];
  const sourceArchive = manifest.walArchive;
  const sourcePgWal = manifest.sourceDataDir ? path.join(manifest.sourceDataDir, 'pg_wal') : undefined;
  const holdsCluster = existsSync(path.join(dataDir, 'PG_VERSION'));
  if (holdsCluster || !(await isEmptyDir(archive))) {
    if (!opts.force) {
      throw new Error(
        `${home} already holds a database (${holdsCluster ? dataDir : archive}); restore into a new HANDOFF_HOME, ` +
          'or pass --force to replace it',
      );
    }
    // kept, never deleted: the old archive (and any WAL its cluster had not archived yet) may be the
    // very history this restore reads, when it restores the home in place
    const aside = `${archive}.${new Date().toISOString().replace(/[-:.]/g, '')}`;
    if (existsSync(archive)) await fsp.rename(archive, aside);
    else await fsp.mkdir(aside, { recursive: true, mode: 0o700 });
    if (holdsCluster) {
      for (const name of await fsp.readdir(path.join(dataDir, 'pg_wal')).catch(() => [] as string[])) {
        if (/^[0-9A-F]{24}$/.test(name) && !existsSync(path.join(aside, `${name}.gz`))) {
          await fsp.copyFile(path.join(dataDir, 'pg_wal', name), path.join(aside, name));
        }
      }
    }
    if (owner) await chownTree(aside, owner);
    sources.push(aside);
    for (const name of await fsp.readdir(dataDir))
      await fsp.rm(path.join(dataDir, name), { recursive: true, force: true });
  }
  if (sourceArchive && existsSync(sourceArchive) && path.resolve(sourceArchive) !== path.resolve(archive)) {
    sources.push(sourceArchive);
  }
  if (sourcePgWal && existsSync(sourcePgWal) && path.resolve(sourcePgWal) !== path.join(dataDir, 'pg_wal')) {
    // the source's newest WAL, not archived yet (a stopped server's last partial segment)
    sources.push(sourcePgWal);
  }

  await fsp.cp(path.join(opts.backupDir, DATA), dataDir, { recursive: true });
  // the WAL the backup needs goes where recovery reads it first, readable by the server's user
  // whatever the backup dir's permissions (as pg_basebackup -X fetch leaves it)
  const walDir = path.join(opts.backupDir, WAL);
  for (const name of await fsp.readdir(walDir)) {
    const to = path.join(dataDir, 'pg_wal', name.replace(/\.gz$/, ''));
    if (name.endsWith('.gz')) await gunzipTo(path.join(walDir, name), to);
    else await fsp.copyFile(path.join(walDir, name), to);
  }
  const settings = [
    `restore_command = ${confString(restoreCommand(opts.target.kind === 'backup' ? [] : sources))}`,
    opts.target.kind === 'backup' ? `recovery_target = 'immediate'` : undefined,
    opts.target.kind === 'time'
      ? // Postgres refuses zone abbreviations here, "Z" included: a numeric offset
        `recovery_target_time = ${confString(opts.target.at.toISOString().replace('T', ' ').replace('Z', '+00'))}`
      : undefined,
    `recovery_target_action = 'promote'`,
  ].filter((s) => s !== undefined);
  await fsp.appendFile(
    path.join(dataDir, 'postgresql.auto.conf'),
    `\n# handoff restore: removed once recovery ends\n${settings.join('\n')}\n`,
  );
  await fsp.writeFile(path.join(dataDir, 'recovery.signal'), '');
  await fsp.chmod(dataDir, 0o700);
  if (owner) await chownTree(dataDir, owner);

  // the restored cluster's superuser has the source's password; the port is only a first choice
  const pgConfig = path.join(home, 'pg.json');
  const sourceConfig = await readConfig(path.join(opts.backupDir, PG_CONFIG));
  if (!sourceConfig) throw new Error(`${opts.backupDir} has no ${PG_CONFIG}: the backup is incomplete`);
  await writeConfig(pgConfig, sourceConfig);

  const server = await startEmbeddedPostgres({ home, log: opts.log }).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes('recovery ended before configured recovery target was reached')) {
      throw new Error(
        `the WAL found (${sources.join(', ') || "the backup's own"}) ends before the time asked for: nothing written ` +
          'after that moment is in it; restore again with --force and --latest (everything it holds), or an earlier --to-time',
        { cause: err },
      );
    }
    throw err;
  });
  try {
    return await withClient(server.url, async (client) => {
      const { rows } = await client.query<{ in_recovery: boolean }>('SELECT pg_is_in_recovery() AS in_recovery');
      if (rows[0]!.in_recovery) throw new Error('the restored Postgres is still in recovery; it should have promoted');
      for (const name of ['restore_command', 'recovery_target', 'recovery_target_time', 'recovery_target_action']) {
        await client.query(`ALTER SYSTEM RESET ${name}`);
      }
      await client.query('SELECT pg_reload_conf()');
      await settleRestoredRun(client, opts.backupDir, manifest);
      const facts = await databaseFacts(client);
      if (facts.schemaVersion !== manifest.schemaVersion) {
        throw new Error(
          `the restored database's schema is ${facts.schemaVersion || '(none)'}, the backup's manifest says ${manifest.schemaVersion}`,
        );
      }
      const missing = missingRows(manifest.counts, facts.counts);
      if (missing.length > 0)
        throw new Error(`the restored database lacks rows the backup holds: ${missing.join('; ')}`);
      return { counts: facts.counts, schemaVersion: facts.schemaVersion };
    });
  } finally {
    await server.stop();
  }
}
