import { existsSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { LevelLogger } from './log.ts';
import { makeRootStateDir, removeRootStateDirIfEmpty, rootStateDir, traversableByOthers } from './rootState.ts';

export interface DataDir {
  /** The real data directory (the target of `${home}/pg` when that is a symlink). */
  path: string;
  /** Removes what this call created (the dir, the symlink, root's state dir): a first start that failed. */
  discard(): Promise<void>;
}

/**
 * Returns the real data directory for `${home}/pg`, creating it when missing.
 *
 * As root, Postgres runs as the `postgres` OS user, which must be able to walk down to the data
 * dir. $HANDOFF_HOME is normally 0700 (and /root is too), so in that case the real data dir lives
 * at /var/lib/handoff/<sha256(home) first 12 hex>/pg, owned by postgres, and `${home}/pg` is a
 * symlink to it. Non-root users (the Macs handoff runs on) keep the data dir in place.
 */
export async function prepareDataDir(home: string, root: boolean, log: LevelLogger): Promise<DataDir> {
  const link = path.join(home, 'pg');
  const st = await fsp.lstat(link).catch(() => undefined);
  if (st?.isSymbolicLink()) {
    const target = path.resolve(home, await fsp.readlink(link));
    const existed = existsSync(target);
    // root's state dir may be gone (a wiped /var/lib): made again open to the postgres user, not 0700 as mkdir -p would
    if (!existed && path.dirname(target) === rootStateDir(home)) await makeRootStateDir(home);
    await fsp.mkdir(target, { recursive: true, mode: 0o700 });
    if (existed) return { path: target, discard: async () => {} };
    return {
      path: target,
      discard: async () => {
        await fsp.rm(target, { recursive: true, force: true });
        await removeRootStateDirIfEmpty(home);
      },
    };
  }
  if (st) return { path: link, discard: async () => {} };
  if (root && !traversableByOthers(home)) {
    const dir = await makeRootStateDir(home);
    const target = path.join(dir, 'pg');
    if (existsSync(path.join(target, 'PG_VERSION'))) {
      // A cluster here without `${home}/pg` pointing at it belonged to an earlier home at the same
      // path that was deleted (with its password in pg.json). Keep it aside, one generation only,
      // rather than refuse to start or silently reuse a cluster nobody can log in to.
      const aside = path.join(dir, 'pg.orphaned');
      await fsp.rm(aside, { recursive: true, force: true });
      await fsp.rename(target, aside);
      log.warn(`moved an orphaned embedded Postgres cluster for ${home} aside to ${aside}`);
    }
    await fsp.mkdir(target, { recursive: true, mode: 0o700 });
    await fsp.symlink(target, link);
    log.info(`embedded Postgres data for ${home} lives in ${target} (the postgres user cannot reach ${home})`);
    return {
      path: target,
      discard: async () => {
        await fsp.rm(link, { force: true });
        await fsp.rm(target, { recursive: true, force: true });
        await removeRootStateDirIfEmpty(home);
      },
    };
  }
  await fsp.mkdir(link, { recursive: true, mode: 0o700 });
  return { path: link, discard: () => fsp.rm(link, { recursive: true, force: true }) };
}
