import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/**
 * Where root keeps what the `postgres` OS user must reach but could not under $HANDOFF_HOME or
 * the clone: `/var/lib/handoff/<sha256(home), 12 hex>/` holds the data dir (`pg`) and, when the
 * clone's binaries are out of reach too, a copy of them (`postgres-<version>`).
 */
export const ROOT_STATE_BASE = '/var/lib/handoff';

/** Whether a user other than the owner could walk from / down to `dir` (false when it is missing). */
export function traversableByOthers(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (!st || (st.mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

export function rootStateDir(home: string): string {
  return path.join(ROOT_STATE_BASE, createHash('sha256').update(home).digest('hex').slice(0, 12));
}

/**
 * Creates the home's state dir, open for the postgres user to walk through (0755 set explicitly:
 * root's umask may be 077), and records which home it belongs to.
 */
export async function makeRootStateDir(home: string): Promise<string> {
  const dir = rootStateDir(home);
  for (const d of [ROOT_STATE_BASE, dir]) {
    await fsp.mkdir(d, { recursive: true, mode: 0o755 });
    await fsp.chmod(d, 0o755);
  }
  await fsp.writeFile(path.join(dir, 'home'), `${home}\n`);
  return dir;
}

/** Removes the home's state dir once nothing but its `home` note is left in it (a start that failed). */
export async function removeRootStateDirIfEmpty(home: string): Promise<void> {
  const dir = rootStateDir(home);
  const left = await fsp.readdir(dir).catch(() => undefined);
  if (left === undefined || left.some((name) => name !== 'home')) return;
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.rmdir(ROOT_STATE_BASE).catch(() => {}); // only when no other home has state there
}
