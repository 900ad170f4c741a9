import fsp from 'node:fs/promises';
import path from 'node:path';

/** What a backup directory holds. One place for the names both sides use. */
export const MANIFEST = 'manifest.json';
/** physical: the copy of the data dir, with its `backup_label`. */
export const DATA = 'data';
/** physical: the WAL segments from pg_backup_start to pg_backup_stop (gzip'd as archived, or plain). */
export const WAL = 'wal';
/** physical: the source home's pg.json; the restored cluster keeps its superuser's password. */
export const PG_CONFIG = 'pg.json';
/** pg_dump: the custom-format dump. */
export const DUMP = 'handoff.dump';
/** Backups are named `handoff-<UTC time>`, so names sort by age; a partial one ends `.partial`. */
export const PREFIX = 'handoff-';
const PARTIAL = '.partial';

export function backupName(at: Date): string {
  return `${PREFIX}${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

/**
 * A fresh directory for a backup taken now under `to`, under its partial name; `complete()` gives it
 * its final name, so a backup that failed half-way never looks like one (and prune removes it).
 */
export async function newBackupDir(to: string, at: Date): Promise<{ dir: string; complete(): Promise<string> }> {
  await fsp.mkdir(to, { recursive: true, mode: 0o700 });
  let name = backupName(at);
  // two in the same second (a test, a manual beside a scheduled one): a suffix keeps both
  for (let n = 2; await exists(path.join(to, name)); n++) name = `${backupName(at)}-${n}`;
  const final = path.join(to, name);
  const dir = `${final}${PARTIAL}`;
  await fsp.mkdir(dir, { mode: 0o700 });
  return {
    dir,
    complete: async () => {
      await fsp.rename(dir, final);
      return final;
    },
  };
}

async function exists(p: string): Promise<boolean> {
  return fsp.stat(p).then(
    () => true,
    () => false,
  );
}

/** The completed backups under `dir`, oldest first (names sort by time). */
export async function listBackups(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const name of names.sort()) {
    if (!name.startsWith(PREFIX) || name.endsWith(PARTIAL)) continue;
    if (await exists(path.join(dir, name, MANIFEST))) out.push(path.join(dir, name));
  }
  return out;
}

/** Partial backups under `dir` (a crash or failure mid-way), which prune removes. */
export async function listPartial(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(PREFIX) && n.endsWith(PARTIAL)).map((n) => path.join(dir, n));
}
