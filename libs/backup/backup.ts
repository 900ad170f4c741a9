import { existsSync, realpathSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { BackupManifest } from '@handoff/contracts';
import { readConfig, walArchiveDir } from '@handoff/embedded-postgres';
import { takeDumpBackup } from './dump.ts';
import { newBackupDir } from './layout.ts';
import { writeManifest } from './manifest.ts';
import { takePhysicalBackup } from './physical.ts';
import { recordFailed, recordOk, recordStart } from './runs.ts';
import type { BackupKind } from './runs.ts';

/** The embedded server of a home, when `url` points at it: a physical backup is possible then. */
export interface EmbeddedSource {
  dataDir: string;
  walArchive: string;
  pgConfigFile: string;
}

export async function embeddedSourceFor(home: string, url: string): Promise<EmbeddedSource | undefined> {
  const pgConfigFile = path.join(home, 'pg.json');
  const cfg = await readConfig(pgConfigFile).catch(() => undefined);
  const link = path.join(home, 'pg');
  if (!cfg || !existsSync(path.join(link, 'PG_VERSION'))) return undefined;
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost'].includes(u.hostname) || Number(u.port) !== cfg.port) return undefined;
  const dataDir = realpathSync(link);
  return { dataDir, walArchive: walArchiveDir(dataDir), pgConfigFile };
}

/** `$HANDOFF_HOME/backups` unless the policy or --to says otherwise. */
export function defaultBackupDir(home: string): string {
  return path.join(home, 'backups');
}

export interface TakeBackupOptions {
  /** Connection to the database to back up (also where backup_runs is written). */
  url: string;
  pool: pg.Pool;
  /** Set when `url` is this home's embedded server: a physical backup; otherwise pg_dump. */
  embedded?: EmbeddedSource;
  to: string;
  kind: BackupKind;
}

export interface TakenBackup {
  dir: string;
  manifest: BackupManifest;
  ms: number;
}

/**
 * One backup, recorded in backup_runs from start to end. A failure removes the partial copy, marks
 * the row failed (what the notifier and doctor read) and is rethrown for the caller to say.
 */
export async function takeBackup(opts: TakeBackupOptions): Promise<TakenBackup> {
  const t0 = performance.now();
  const started = new Date();
  // recorded first, so a backup that cannot even make its directory is a failed row too
  const runId = await recordStart(opts.pool, opts.kind, opts.to);
  let target: Awaited<ReturnType<typeof newBackupDir>> | undefined;
  try {
    target = await newBackupDir(opts.to, started);
    const manifest = opts.embedded
      ? await takePhysicalBackup({ url: opts.url, dir: target.dir, ...opts.embedded })
      : await takeDumpBackup({ url: opts.url, dir: target.dir });
    await writeManifest(target.dir, manifest);
    const dir = await target.complete();
    await recordOk(opts.pool, runId, dir, manifest);
    return { dir, manifest, ms: performance.now() - t0 };
  } catch (err) {
    if (target) await fsp.rm(target.dir, { recursive: true, force: true }).catch(() => {});
    const message = err instanceof Error ? err.message : String(err);
    await recordFailed(opts.pool, runId, message).catch(() => {});
    throw err;
  }
}
