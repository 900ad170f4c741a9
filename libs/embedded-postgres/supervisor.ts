import { setTimeout as sleep } from 'node:timers/promises';
import { startEmbeddedPostgres } from './start.ts';
import type { EmbeddedListen } from './listen.ts';
import type { EmbeddedPostgresServer } from './server.ts';
import type { LevelLogger } from './log.ts';

/** Restart attempts for one outage, waiting 0.25, 0.5, 1, 2, 4 s before them. */
export const RESTART_ATTEMPTS = 5;
const FIRST_DELAY_MS = 250;
/** More deaths than this within CRASH_WINDOW_MS is a crash loop: handing over to the service manager. */
const MAX_DEATHS_IN_WINDOW = 5;
const CRASH_WINDOW_MS = 10 * 60_000;

/** One line for a failed start (its message names the cause: the server's FATAL line when it wrote one). */
function summary(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

export interface SupervisorOptions {
  home: string;
  log: LevelLogger;
  /** As EmbeddedPostgresOptions.binaries: what the restarts run. */
  binaries?: string;
  /** As EmbeddedPostgresOptions.listen: where the restarts listen. */
  listen?: EmbeddedListen;
  /**
   * Postgres died and did not come back (or keeps dying). The caller exits non-zero so that its
   * service manager restarts the whole process; handoff never stays up answering 503 for ever.
   */
  onLost(err: Error): void;
  /** Overrides for tests: attempts per outage, the first backoff delay, deaths allowed in the window. */
  attempts?: number;
  firstDelayMs?: number;
  maxDeathsInWindow?: number;
}

export interface SupervisedPostgres {
  url: string;
  /** Stops supervising, then stops the server if this process owns it (as `EmbeddedPostgresServer.stop`). */
  stop(): Promise<void>;
}

/**
 * Keeps the embedded Postgres running for the life of the process: when the postmaster dies (a
 * crash, the OOM killer, SIGKILL) it is started again on the same data dir and port, so every pool
 * and listener reconnects to the URL it already has. Postgres's crash recovery replays the WAL;
 * the leftovers of a killed server (its backends, the stale postmaster.pid) are cleared by
 * startEmbeddedPostgres. Each outage gets a few attempts with exponential backoff; when they fail,
 * or Postgres dies again and again, `onLost` is called.
 *
 * Every process that uses the embedded server supervises it, the owner and those that joined:
 * the home lock lets one of them start it again and the others join the new server.
 */
export function superviseEmbeddedPostgres(first: EmbeddedPostgresServer, opts: SupervisorOptions): SupervisedPostgres {
  const attempts = opts.attempts ?? RESTART_ATTEMPTS;
  const firstDelayMs = opts.firstDelayMs ?? FIRST_DELAY_MS;
  const maxDeaths = opts.maxDeathsInWindow ?? MAX_DEATHS_IN_WINDOW;
  const log = opts.log;
  let server = first;
  let stopping = false;
  let restarting: Promise<void> | undefined;
  const deaths: number[] = [];

  const restart = async (dead: EmbeddedPostgresServer): Promise<void> => {
    const diedAt = Date.now();
    deaths.push(diedAt);
    while (deaths.length > 0 && deaths[0]! < diedAt - CRASH_WINDOW_MS) deaths.shift();
    if (deaths.length > maxDeaths) {
      throw new Error(`it died ${deaths.length} times in ${CRASH_WINDOW_MS / 60_000} minutes`);
    }
    log.error(`embedded Postgres (pid ${dead.pid}) died; restarting it on 127.0.0.1:${dead.port}`);
    let lastError: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await sleep(firstDelayMs * 2 ** (attempt - 1));
      if (stopping) return;
      try {
        const next = await startEmbeddedPostgres({
          home: opts.home,
          log,
          port: dead.port,
          binaries: opts.binaries,
          listen: opts.listen,
        });
        server = next;
        const how =
          next.reused && !next.adopted
            ? `joined pid ${next.pid}, restarted by another handoff process`
            : `pid ${next.pid}`;
        log.warn(`embedded Postgres is back (${how}, attempt ${attempt}, down ${Date.now() - diedAt} ms)`);
        return;
      } catch (err) {
        lastError = err;
        log.error(`embedded Postgres restart attempt ${attempt} of ${attempts} failed: ${summary(err)}`);
      }
    }
    throw new Error(`${attempts} restart attempts failed, the last: ${summary(lastError)}`, { cause: lastError });
  };

  const watch = (current: EmbeddedPostgresServer): void => {
    void current.exited().then(() => {
      if (stopping || current !== server) return;
      restarting = restart(current).then(
        () => {
          restarting = undefined;
          if (!stopping) watch(server);
        },
        (err: unknown) => {
          restarting = undefined;
          if (stopping) return;
          stopping = true;
          const reason = err instanceof Error ? err.message : String(err);
          opts.onLost(new Error(`the embedded Postgres died and could not be restarted (${reason})`, { cause: err }));
        },
      );
    });
  };
  watch(first);

  return {
    url: first.url,
    async stop() {
      stopping = true;
      await restarting?.catch(() => undefined);
      await server.stop();
    },
  };
}
