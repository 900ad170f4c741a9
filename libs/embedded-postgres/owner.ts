import fsp from 'node:fs/promises';
import path from 'node:path';
import type { LevelLogger } from './log.ts';
import { isRunningPostgres, waitUntilGone } from './processes.ts';

// Ownership: the process that stops the server. It is recorded in `${home}/pg.owner`, so that a
// launcher finding the server running can tell a live owner (leave it be) from one that was killed
// (take the server over, or it would run on with nobody to stop it).

const STOP_TIMEOUT_MS = 30_000;

export async function readOwner(home: string): Promise<number | undefined> {
  const text = await fsp.readFile(path.join(home, 'pg.owner'), 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Makes this process the owner of the postmaster `pid`: records it, stops the server when the
 * process exits without calling stop(), and returns the stop. `exited` resolves when the server is
 * gone, for a server this process spawned; one it took over is watched only while it stops.
 */
export async function ownPostmaster(
  home: string,
  pid: number,
  exited: Promise<void> | undefined,
  log: LevelLogger,
): Promise<() => Promise<void>> {
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
