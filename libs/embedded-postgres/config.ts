import fsp from 'node:fs/promises';
import path from 'node:path';

/** The cluster's superuser, and the OS user Postgres runs as when handoff runs as root. */
export const SUPERUSER = 'postgres';
export const EMBEDDED_DATABASE = 'handoff';
export const DEFAULT_EMBEDDED_PORT = 18832;

/** `${home}/pg.json`: the port the server was last given and the superuser's password. */
export interface PgConfig {
  port: number;
  password: string;
}

export function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

export async function readConfig(file: string): Promise<PgConfig | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<PgConfig>;
  if (typeof parsed.port !== 'number' || typeof parsed.password !== 'string' || parsed.password === '') {
    throw new Error(`${file} is malformed: expected {"port": number, "password": string}`);
  }
  return { port: parsed.port, password: parsed.password };
}

export async function writeConfig(file: string, cfg: PgConfig): Promise<void> {
  // Write then rename, so a crash never leaves a half-written password behind.
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  await fsp.chmod(tmp, 0o600);
  await fsp.rename(tmp, file);
}

export function urlFor(port: number, password: string, database: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** Continuous archiving's `archive_timeout`: the loss window after a disk failure is about this long. */
export const ARCHIVE_TIMEOUT_SECONDS = 60;

/**
 * Where the server archives its WAL: `backups/wal` beside the data dir, i.e. `$HANDOFF_HOME/backups/wal`,
 * or under root's state dir when the data dir lives there (the postgres user cannot reach $HANDOFF_HOME;
 * the home then gets a symlink to it, see archiveFlags).
 */
export function walArchiveDir(dataDir: string): string {
  return path.join(path.dirname(dataDir), 'backups', 'wal');
}

/** A word for sh: single-quoted, `'` spelled `'\''`; `%` doubled because Postgres expands `%` first. */
function shellWord(s: string): string {
  return `'${s.replaceAll("'", "'\\''").replaceAll('%', '%%')}'`;
}

/**
 * `archive_command` for `dir`: never overwrites a segment already archived (the PG docs' rule), and
 * writes under a temporary name then renames, so a crash mid-copy leaves no truncated segment that the
 * `test ! -f` would then keep forever. gzip -1, because a segment that archive_timeout switched early
 * is still 16 MB, nearly all zeros: some 75 kB compressed. Plain sh, test, gzip and mv: the same on
 * Linux and macOS. The restore reads `<segment>.gz` (and plain segments) back.
 */
export function archiveCommand(dir: string): string {
  const to = (suffix: string): string => `${shellWord(dir)}/%f.gz${suffix}`;
  return `test ! -f ${to('')} && gzip -1 -c < %p > ${to('.part')} && mv ${to('.part')} ${to('')}`;
}

/**
 * The postmaster flags for continuous WAL archiving into walArchiveDir(dataDir), creating that dir
 * (owned by `owner`, the postgres user, when handoff runs as root). archive_mode takes effect at a
 * server start, so an installation made before it archives from its next start.
 */
export async function archiveFlags(
  home: string,
  dataDir: string,
  owner?: { uid: number; gid: number },
): Promise<string[]> {
  const dir = walArchiveDir(dataDir);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  if (owner) {
    await fsp.chown(path.dirname(dir), owner.uid, owner.gid);
    await fsp.chown(dir, owner.uid, owner.gid);
  }
  const inHome = path.join(home, 'backups', 'wal');
  if (path.resolve(inHome) !== path.resolve(dir)) {
    // root's layout: $HANDOFF_HOME/backups/wal points at the archive, so it is found where the docs say
    await fsp.mkdir(path.dirname(inHome), { recursive: true, mode: 0o700 });
    const st = await fsp.lstat(inHome).catch(() => undefined);
    if (!st) await fsp.symlink(dir, inHome);
  }
  return [
    '-c',
    'archive_mode=on',
    '-c',
    `archive_command=${archiveCommand(dir)}`,
    '-c',
    `archive_timeout=${ARCHIVE_TIMEOUT_SECONDS}`,
  ];
}
