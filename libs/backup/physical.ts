import { existsSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { BackupManifest } from '@handoff/contracts';
import { databaseFacts, withClient } from './database.ts';
import { describeFiles } from './files.ts';
import { DATA, PG_CONFIG, WAL } from './layout.ts';

/**
 * What the PG docs ("Making a Base Backup Using the Low Level API") say a copy of the data dir may
 * leave out: directories copied empty, and files never copied.
 */
const EMPTY_DIRS = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
]);
const SKIP_FILES = new Set(['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map']);

function skipped(rel: string): boolean {
  const parts = rel.split('/');
  const base = parts.at(-1)!;
  if (parts.length === 1 && SKIP_FILES.has(base)) return true;
  if (base === 'pg_internal.init' || base.startsWith('pgsql_tmp')) return true;
  return parts.slice(0, -1).some((p) => p.startsWith('pgsql_tmp'));
}

/** Copies the data dir as the docs allow while the server runs: files may vanish (a dropped table) mid-copy. */
async function copyDataDir(from: string, to: string): Promise<void> {
  await fsp.mkdir(to, { recursive: true, mode: 0o700 });
  for (const e of await fsp.readdir(from, { withFileTypes: true })) {
    const src = path.join(from, e.name);
    const dst = path.join(to, e.name);
    if (e.isDirectory()) {
      if (EMPTY_DIRS.has(e.name)) {
        await fsp.mkdir(dst, { mode: 0o700 });
        if (e.name === 'pg_wal') await fsp.mkdir(path.join(dst, 'archive_status'), { mode: 0o700 });
        continue;
      }
      await copyTree(src, dst, e.name);
    } else if (e.isFile() && !skipped(e.name)) {
      await copyFileIfThere(src, dst);
    }
  }
}

async function copyTree(from: string, to: string, rel: string): Promise<void> {
  if (skipped(rel)) return;
  await fsp.mkdir(to, { recursive: true, mode: 0o700 });
  const entries = await fsp.readdir(from, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  for (const e of entries) {
    const childRel = `${rel}/${e.name}`;
    if (e.isDirectory()) await copyTree(path.join(from, e.name), path.join(to, e.name), childRel);
    else if (e.isFile() && !skipped(childRel)) await copyFileIfThere(path.join(from, e.name), path.join(to, e.name));
  }
}

async function copyFileIfThere(src: string, dst: string): Promise<void> {
  await fsp.copyFile(src, dst).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

/** `000000010000000000000003` from both ends of the backup: the segments (gzip'd or not) it needs. */
async function copyNeededWal(opts: {
  archive: string;
  dataDir: string;
  first: string;
  last: string;
  to: string;
}): Promise<void> {
  await fsp.mkdir(opts.to, { mode: 0o700 });
  const timeline = opts.first.slice(0, 8);
  const segments: string[] = [];
  // segment names are hex: the same timeline, counting up from first to last
  for (let n = BigInt(`0x${opts.first.slice(8)}`); n <= BigInt(`0x${opts.last.slice(8)}`); n++) {
    const logSeg = n.toString(16).toUpperCase().padStart(16, '0');
    segments.push(`${timeline}${logSeg}`);
    if (segments.length > 100_000) throw new Error('the backup spans more WAL segments than it can copy');
  }
  for (const seg of segments) {
    const gz = path.join(opts.archive, `${seg}.gz`);
    const plain = path.join(opts.archive, seg);
    const inPgWal = path.join(opts.dataDir, 'pg_wal', seg);
    if (existsSync(gz)) await fsp.copyFile(gz, path.join(opts.to, `${seg}.gz`));
    else if (existsSync(plain)) await fsp.copyFile(plain, path.join(opts.to, seg));
    // archive_mode was off (a server started before archiving came): its own pg_wal still holds it
    else if (existsSync(inPgWal)) await fsp.copyFile(inPgWal, path.join(opts.to, seg));
    else throw new Error(`WAL segment ${seg}, which the backup needs, is neither in ${opts.archive} nor in pg_wal`);
  }
  for (const name of await fsp.readdir(opts.archive).catch(() => [] as string[])) {
    if (/^[0-9A-F]{8}\.history(\.gz)?$/.test(name))
      await fsp.copyFile(path.join(opts.archive, name), path.join(opts.to, name));
  }
}

export interface PhysicalBackupOptions {
  /** A superuser connection to the embedded server (pg_backup_start needs one). */
  url: string;
  dataDir: string;
  /** The server's WAL archive (walArchiveDir). */
  walArchive: string;
  /** The home's pg.json, copied so the restored cluster can be logged in to. */
  pgConfigFile: string;
  /** The backup's directory, empty. */
  dir: string;
}

/**
 * A physical backup of a running embedded Postgres: pg_backup_start on a connection held open, a copy
 * of the data dir, pg_backup_stop (waiting until the WAL it needs is archived), its label written as
 * `backup_label` into the copy, those WAL segments beside it. Consistent by Postgres's own recovery,
 * not by a table export.
 */
export async function takePhysicalBackup(opts: PhysicalBackupOptions): Promise<BackupManifest> {
  const startedAt = new Date().toISOString();
  return withClient(opts.url, async (client) => {
    const { rows: started } = await client.query<{ lsn: string; file: string }>(
      `SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS file FROM pg_backup_start($1, fast => true) AS lsn`,
      [`handoff ${startedAt}`],
    );
    let stoppedCleanly = false;
    try {
      const facts = await databaseFacts(client);
      await copyDataDir(opts.dataDir, path.join(opts.dir, DATA));
      const { rows: stopped } = await client.query<{
        lsn: string;
        file: string;
        labelfile: string;
        spcmapfile: string;
      }>(
        `SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS file, labelfile, spcmapfile
         FROM pg_backup_stop(wait_for_archive => true)`,
      );
      stoppedCleanly = true;
      const stop = stopped[0]!;
      await fsp.writeFile(path.join(opts.dir, DATA, 'backup_label'), stop.labelfile, { mode: 0o600 });
      if (stop.spcmapfile) await fsp.writeFile(path.join(opts.dir, DATA, 'tablespace_map'), stop.spcmapfile);
      await copyNeededWal({
        archive: opts.walArchive,
        dataDir: opts.dataDir,
        first: started[0]!.file,
        last: stop.file,
        to: path.join(opts.dir, WAL),
      });
      await fsp.copyFile(opts.pgConfigFile, path.join(opts.dir, PG_CONFIG));
      await fsp.chmod(path.join(opts.dir, PG_CONFIG), 0o600);
      return {
        format: 'handoff-backup/1',
        method: 'physical',
        startedAt,
        finishedAt: new Date().toISOString(),
        ...facts,
        startLsn: started[0]!.lsn,
        stopLsn: stop.lsn,
        walArchive: opts.walArchive,
        sourceDataDir: opts.dataDir,
        files: await describeFiles(opts.dir),
      } satisfies BackupManifest;
    } finally {
      // a failed copy must not leave the server in backup mode (the session ending does that too)
      if (!stoppedCleanly) await client.query('SELECT pg_backup_stop(wait_for_archive => false)').catch(() => {});
    }
  });
}
