import fsp from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EMBEDDED_DATABASE, urlFor } from './config.ts';
import { ensureDatabase, probe } from './connection.ts';
import type { LevelLogger } from './log.ts';
import { ownPostmaster, readOwner } from './owner.ts';
import { readPostmasterPid } from './postmaster.ts';
import type { PostmasterPid } from './postmaster.ts';
import { isAlive, isRunningPostgres, killLeftovers, pollUntilGone } from './processes.ts';
import type { EmbeddedPostgresServer } from './server.ts';

/**
 * A server already running on this data dir (started by another handoff process), or undefined
 * after clearing a stale postmaster.pid.
 */
export async function findRunning(
  dataDir: string,
  password: string,
  log: LevelLogger,
): Promise<PostmasterPid | undefined> {
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
 * Joins the server another handoff process runs on this data dir: that is how `handoff
 * coordinator` and `handoff executor` share one server. Its owner stops it; when the owner is
 * gone (killed), this process takes the server over and its stop() stops it.
 */
export async function joinRunning(
  home: string,
  dataDir: string,
  password: string,
  log: LevelLogger,
): Promise<EmbeddedPostgresServer | undefined> {
  const running = await findRunning(dataDir, password, log);
  if (!running) return undefined;
  await ensureDatabase(running.port, password);
  const owner = await readOwner(home);
  const orphaned = owner === undefined || !isAlive(owner);
  log.debug(
    `reusing embedded Postgres pid ${running.pid} on 127.0.0.1:${running.port}${orphaned ? ', left by a process that is gone: taking it over' : ''}`,
  );
  return {
    url: urlFor(running.port, password, EMBEDDED_DATABASE),
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

/**
 * After a failed start: the server of a launcher that does not share our lock file (an older
 * handoff?) may have won the race for the data dir. Joins it when it answers.
 */
export async function joinRaceWinner(
  dataDir: string,
  password: string,
  fresh: boolean,
  log: LevelLogger,
): Promise<EmbeddedPostgresServer | undefined> {
  const running = readPostmasterPid(dataDir);
  if (!running || !isAlive(running.pid)) return undefined;
  const again = await findRunning(dataDir, password, log);
  if (!again) return undefined;
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
