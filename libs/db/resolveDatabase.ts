import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, superviseEmbeddedPostgres, toLevelLogger } from '@handoff/embedded-postgres';
import type { DbLog, EmbeddedListen } from '@handoff/embedded-postgres';

/** $HANDOFF_HOME, default ~/.handoff; created 0700 because it holds tokens and secrets. */
export function handoffHome(): string {
  const env = process.env.HANDOFF_HOME;
  const home = env !== undefined && env !== '' ? path.resolve(env) : path.join(os.homedir(), '.handoff');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  return home;
}

export interface ResolvedDatabase {
  url: string;
  embedded: boolean;
  /** Stops the embedded server when this process started it; otherwise does nothing. */
  stop(): Promise<void>;
}

export interface ResolveDatabaseOptions {
  home?: string;
  log?: DbLog;
  /**
   * Long-running processes pass this: the embedded Postgres is then supervised (restarted when it
   * dies, see libs/embedded-postgres/supervisor.ts), and this is called when it cannot be brought back. Your own
   * server (DATABASE_URL) is not ours to restart; the pools reconnect when it returns.
   */
  onLost?: (err: Error) => void;
  /** `handoff --listen`: the embedded Postgres listens there too, TLS and a password required (ignored with DATABASE_URL). */
  listen?: EmbeddedListen;
}

/** DATABASE_URL when set; otherwise the embedded Postgres under `${home}/pg`. */
export async function resolveDatabase(opts: ResolveDatabaseOptions = {}): Promise<ResolvedDatabase> {
  const url = process.env.DATABASE_URL;
  if (url !== undefined && url !== '') return { url, embedded: false, stop: async () => {} };
  const home = opts.home ?? handoffHome();
  const server = await startEmbeddedPostgres({ home, log: opts.log, listen: opts.listen });
  if (!opts.onLost) return { url: server.url, embedded: true, stop: server.stop };
  const supervised = superviseEmbeddedPostgres(server, {
    home,
    log: toLevelLogger(opts.log),
    onLost: opts.onLost,
    listen: opts.listen,
  });
  return { url: supervised.url, embedded: true, stop: supervised.stop };
}

/**
 * On SIGINT or SIGTERM: run `stop` (e.g. drain work, then stop the embedded Postgres), then exit
 * with 128 + signal number. A second signal exits at once. Returns a function that uninstalls
 * the handlers. Apps with their own shutdown sequence call the embedded `stop()` at its end
 * instead of using this.
 */
export function stopOnSignals(
  stop: () => Promise<void>,
  opts: { signals?: NodeJS.Signals[]; onError?: (err: unknown) => void } = {},
): () => void {
  const signals = opts.signals ?? ['SIGINT', 'SIGTERM'];
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    const code = 128 + (os.constants.signals[signal] ?? 0);
    if (stopping) process.exit(code);
    stopping = true;
    stop().then(
      () => process.exit(code),
      (err: unknown) => {
        (opts.onError ?? ((e: unknown) => console.error('shutdown failed:', e)))(err);
        process.exit(code);
      },
    );
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.removeListener(s, handler);
  };
}
