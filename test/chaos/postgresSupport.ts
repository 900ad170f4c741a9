import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from '@handoff/embedded-postgres';
import { removeHome } from '../support/removeHome.ts';
import { startStack, type Stack } from '../support/stack.ts';
import type { PolicyInput } from '@handoff/contracts';

/**
 * A dedicated embedded Postgres for one chaos scenario (its own data dir and port), so the scenario
 * can stop and start it, or reach it through a proxy, without touching the suite's shared server.
 */
export interface OwnPostgres {
  /** The server URL (database `handoff`); tests make their own database on it. */
  url(): string;
  port(): number;
  pid(): number;
  /** Clean stop ("fast" shutdown): sessions are ended with 57P01. */
  stopFast(): Promise<void>;
  /** SIGQUIT to the postmaster ("immediate" shutdown, like a crash): no goodbye to clients. */
  stopImmediate(): Promise<void>;
  /** Starts it again on the same data dir and port. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  destroy(): Promise<void>;
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const home = mkdtempSync(path.join(tmpdir(), 'handoff-chaos-pg-'));
  let server: EmbeddedPostgresServer = await startEmbeddedPostgres({ home });
  const waitExit = async (pid: number): Promise<void> => {
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    url: () => server.url,
    port: () => server.port,
    pid: () => server.pid,
    stopFast: () => server.stop(),
    async stopImmediate() {
      const pid = server.pid;
      process.kill(pid, 'SIGQUIT');
      await waitExit(pid);
      await server.stop();
    },
    async start() {
      const port = server.port;
      server = await startEmbeddedPostgres({ home });
      if (server.port !== port) throw new Error(`restarted Postgres came up on port ${server.port}, not ${port}`);
    },
    async destroy() {
      await server.stop().catch(() => undefined);
      removeHome(home);
    },
  };
}

/** startStack on `serverUrl` instead of the suite's DATABASE_URL (the stack makes its database there). */
export async function startStackOn(serverUrl: string, opts: { policy?: PolicyInput } = {}): Promise<Stack> {
  const saved = process.env.DATABASE_URL;
  process.env.DATABASE_URL = serverUrl;
  try {
    return await startStack(opts);
  } finally {
    process.env.DATABASE_URL = saved;
  }
}
