import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from '@handoff/db';

/**
 * A row per routed request in router_usage (migration 007), written in batches: `record` only
 * appends to a buffer, and one INSERT writes up to `batchRows` rows every `flushMs`, or at once when
 * a batch is full. A request never waits on Postgres; a failed write is logged and its rows are
 * tried again at the next flush, up to `maxBufferedRows` (then the oldest are dropped and counted,
 * so a database that is down costs memory up to a bound, never the router's answers).
 */

export interface UsageRecord {
  at: Date;
  /** The client token's name, or its `<role>:<id>`; null for a call from inside the coordinator with no token. */
  tokenName: string | null;
  modelAsked: string;
  /** The node and model that answered (or failed last); null when no node was tried. */
  nodeId: string | null;
  modelUsed: string | null;
  /** Nodes passed over before the one that served (skipped by plan or failed before a first byte). */
  escalations: number;
  tokensIn: number | null;
  tokensOut: number | null;
  /** From the request's arrival to the node's first byte (failovers included); null when none came. */
  ttfbMs: number | null;
  totalMs: number;
  /** `ok`, `client_aborted`, or the error code the client was answered with. */
  status: string;
}

export interface UsageLog {
  record(row: UsageRecord): void;
  /** Writes every buffered row (as many batches as it takes); resolves when done or failed. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is left. */
  close(): Promise<void>;
}

export interface UsageLogOptions {
  log: Logger;
  /** Default 1000 ms. */
  flushMs?: number;
  /** Rows per INSERT, and the buffer size that starts one at once. Default 500. */
  batchRows?: number;
  /** Default 100,000 rows (about 30 MB). */
  maxBufferedRows?: number;
}

/** One INSERT of a batch: arrays per column, so the statement and its plan are the same for any size. */
async function insertUsage(db: Db, rows: readonly UsageRecord[]): Promise<void> {
  const col = <T>(f: (r: UsageRecord) => T): T[] => rows.map(f);
  await sql`
    INSERT INTO router_usage (at, token_name, model_asked, node_id, model_used, escalations, tokens_in, tokens_out,
      ttfb_ms, total_ms, status)
    SELECT * FROM unnest(${col((r) => r.at)}::timestamptz[], ${col((r) => r.tokenName)}::text[],
      ${col((r) => r.modelAsked)}::text[], ${col((r) => r.nodeId)}::text[], ${col((r) => r.modelUsed)}::text[],
      ${col((r) => r.escalations)}::integer[], ${col((r) => r.tokensIn)}::integer[],
      ${col((r) => r.tokensOut)}::integer[], ${col((r) => r.ttfbMs)}::integer[], ${col((r) => r.totalMs)}::integer[],
      ${col((r) => r.status)}::text[])`.execute(db);
}

export function createUsageLog(db: Db, opts: UsageLogOptions): UsageLog {
  const { log } = opts;
  const batchRows = opts.batchRows ?? 500;
  const maxBuffered = opts.maxBufferedRows ?? 100_000;
  const buffer: UsageRecord[] = [];
  let dropped = 0;
  let flushing: Promise<void> | null = null;

  /** The oldest rows go: a writer that is this far behind is not catching up. */
  function cap(): void {
    if (buffer.length <= maxBuffered) return;
    dropped += buffer.length - maxBuffered;
    buffer.splice(0, buffer.length - maxBuffered);
  }

  async function writeAll(): Promise<void> {
    while (buffer.length > 0) {
      const batch = buffer.splice(0, batchRows);
      try {
        await insertUsage(db, batch);
      } catch (err) {
        buffer.unshift(...batch);
        cap();
        log.warn({ err, rows: buffer.length }, 'router: could not write usage rows; trying again at the next flush');
        return;
      }
    }
  }

  function flush(): Promise<void> {
    flushing ??= writeAll().finally(() => {
      flushing = null;
      if (dropped > 0) {
        log.warn({ dropped }, 'router: usage rows dropped while the database could not take them');
        dropped = 0;
      }
    });
    return flushing;
  }

  const timer = setInterval(() => void flush(), opts.flushMs ?? 1000).unref();

  return {
    record(row) {
      buffer.push(row);
      cap();
      if (buffer.length >= batchRows) void flush();
    },
    async flush() {
      // a flush already running may have taken its batch before the last rows came
      await flushing;
      await flush();
    },
    async close() {
      clearInterval(timer);
      await this.flush();
    },
  };
}
