import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { PostgresBinaries } from './binaries.ts';
import { archiveFlags, DEFAULT_EMBEDDED_PORT, EMBEDDED_DATABASE, urlFor, writeConfig } from './config.ts';
import type { PgConfig } from './config.ts';
import { ensureDatabase } from './connection.ts';
import { runInitdb } from './initdb.ts';
import { joinRaceWinner } from './join.ts';
import { forgetListen, listenFlags, prepareListen } from './listen.ts';
import type { EmbeddedListen } from './listen.ts';
import type { LevelLogger } from './log.ts';
import type { OsIds } from './osUser.ts';
import { ownPostmaster } from './owner.ts';
import { choosePort, portIsFree } from './ports.ts';
import { startPostmaster } from './postmaster.ts';
import type { EmbeddedPostgresServer } from './server.ts';

const START_TIMEOUT_MS = 60_000;
const POSTGRES_FLAGS = [
  // No unix socket: TCP only (listen.ts says where), and no /tmp lock files to collide on.
  '-c',
  'unix_socket_directories=',
  '-c',
  'max_connections=200',
];
/**
 * What to do, said after the cause in every failure to bring the server up: one line, which the CLI
 * prints as it is; the lines Postgres or initdb wrote go to the log (warn) just before.
 */
const WHAT_TO_DO = 'fix that and start handoff again, or set DATABASE_URL to use your own Postgres';

/** The line of Postgres's (or initdb's) output that says why, when there is one. */
function causeIn(lines: string[]): string | undefined {
  const line = lines.findLast((l) => /\b(FATAL|PANIC|error):/i.test(l));
  return line?.replace(/^.*?\b(FATAL|PANIC|error):\s*/i, '');
}

export interface LaunchOptions {
  home: string;
  dataDir: string;
  /** pg.json as it was, when there was one: its password and the port to try first. */
  cfg?: PgConfig;
  /** Exactly this port, or fail (a restart, see EmbeddedPostgresOptions.port). */
  port?: number;
  binaries: PostgresBinaries;
  /** Set as root: initdb and the postmaster run as this (postgres) user. */
  runAs?: OsIds;
  /** Listen on this address too, TLS and a password required there (see listen.ts). */
  listen?: EmbeddedListen;
  /** Continuous WAL archiving (see EmbeddedPostgresOptions.walArchive). */
  walArchive: boolean;
  log: LevelLogger;
}

/** The last lines Postgres wrote, kept to explain a failed start. */
function logTail(log: LevelLogger): { lines: string[]; onLog(line: string): void } {
  const lines: string[] = [];
  return {
    lines,
    onLog(line) {
      lines.push(line);
      if (lines.length > 30) lines.shift();
      log.debug(`postgres: ${line}`);
    },
  };
}

async function pickPort(opts: LaunchOptions, tried: Set<number>): Promise<number> {
  if (opts.port !== undefined) {
    if (tried.has(opts.port) || !(await portIsFree(opts.port))) {
      throw new Error(
        `port ${opts.port} of the embedded Postgres is taken by another program; it cannot come back there`,
      );
    }
    return opts.port;
  }
  return choosePort(tried.size === 0 ? (opts.cfg?.port ?? DEFAULT_EMBEDDED_PORT) : DEFAULT_EMBEDDED_PORT, tried);
}

/** Runs initdb when the data dir holds no cluster yet; true when it did. */
async function initialiseIfEmpty(
  opts: LaunchOptions,
  password: string,
  onLog: (line: string) => void,
): Promise<boolean> {
  if (existsSync(path.join(opts.dataDir, 'PG_VERSION'))) return false;
  const t0 = performance.now();
  try {
    await runInitdb({ initdb: opts.binaries.initdb, dataDir: opts.dataDir, password, runAs: opts.runAs, onLog });
  } catch (err) {
    const [first = '', ...output] = (err instanceof Error ? err.message : String(err)).split('\n');
    for (const line of output) opts.log.warn(`initdb: ${line}`);
    const cause = causeIn(output) ?? first;
    throw new Error(`embedded Postgres could not create its cluster in ${opts.dataDir}: ${cause}; ${WHAT_TO_DO}`, {
      cause: err,
    });
  }
  opts.log.info(`initialised embedded Postgres in ${opts.dataDir} (${Math.round(performance.now() - t0)} ms)`);
  return true;
}

/** Owns the postmaster this process spawned and makes sure database `handoff` exists. */
async function serve(
  child: ChildProcess,
  opts: LaunchOptions,
  port: number,
  password: string,
  fresh: boolean,
): Promise<EmbeddedPostgresServer> {
  const { home, dataDir, log } = opts;
  const pid = child.pid!;
  let stopped = false;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
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
  return {
    url: urlFor(port, password, EMBEDDED_DATABASE),
    dataDir,
    port,
    pid,
    reused: false,
    adopted: false,
    fresh,
    stop,
    exited: () => exited,
  };
}

/**
 * Creates the cluster when needed and starts the server on it: on the port of pg.json when free
 * (another when not, up to three tries), or exactly on `opts.port`.
 */
export async function launch(opts: LaunchOptions): Promise<EmbeddedPostgresServer> {
  const { home, dataDir, log } = opts;
  const cfgFile = path.join(home, 'pg.json');
  const password = opts.cfg?.password ?? randomBytes(24).toString('base64url');
  // initdb runs as the postgres user, and a cluster must belong to the user that serves it
  if (opts.runAs) await fsp.chown(dataDir, opts.runAs.uid, opts.runAs.gid);
  const tried = new Set<number>();
  let fresh = false;
  for (let attempt = 1; ; attempt++) {
    const port = await pickPort(opts, tried);
    tried.add(port);
    // Recorded before initdb, so the password survives a crash between initdb and start.
    await writeConfig(cfgFile, { port, password });
    const tail = logTail(log);
    fresh = (await initialiseIfEmpty(opts, password, tail.onLog)) || fresh;
    if (opts.listen) await prepareListen(dataDir, opts.listen, opts.runAs);
    else await forgetListen(dataDir, opts.runAs);

    let child: ChildProcess;
    try {
      child = await startPostmaster({
        postgres: opts.binaries.postgres,
        dataDir,
        port,
        flags: [
          ...listenFlags(opts.listen),
          ...POSTGRES_FLAGS,
          ...(opts.walArchive ? await archiveFlags(home, dataDir, opts.runAs) : []),
        ],
        runAs: opts.runAs,
        onLog: tail.onLog,
        timeoutMs: START_TIMEOUT_MS,
      });
    } catch (err) {
      if (
        attempt < 3 &&
        tail.lines.some((l) => /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(l))
      ) {
        log.info(`port ${port} was taken while Postgres started; trying another`);
        continue;
      }
      const winner = await joinRaceWinner(dataDir, password, fresh, log);
      if (winner) return winner;
      for (const line of tail.lines) log.warn(`postgres: ${line}`);
      const cause = causeIn(tail.lines) ?? (err instanceof Error ? err.message : String(err));
      throw new Error(
        `embedded Postgres failed to start on 127.0.0.1:${port} with data in ${dataDir}: ${cause}; ${WHAT_TO_DO}`,
        { cause: err },
      );
    }
    return serve(child, opts, port, password, fresh);
  }
}
