import { hostname } from 'node:os';
import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { BreakerState } from '@handoff/contracts';
import type { Db } from '@handoff/db';

export interface HeartbeatSnapshot {
  status: string;
  channels: string[];
  breakers: BreakerState[];
  localGateEnabled: boolean;
  inFlight: number;
  /** The fleet policy version applied (null: the executor's own policy.json alone) and its hash. */
  policy: { version: number | null; sha256: string };
}

/** What an executor is for as long as it runs: shown per node so that a stale one stands out. */
export interface ExecutorIdentity {
  executorId: string;
  /** handoff's version (versions.ts). */
  handoffVersion: string;
  /** The schema version this executor's code expects (versions.ts). */
  schemaVersion: number;
}

/**
 * The executor's row in `executors`: what `handoff live` shows of it. `heartbeat_at` is the
 * database's clock and `reported_clock` the executor's own, read as the row is sent: their
 * difference is the executor's clock skew (leases never depend on it, decision 91).
 */
export function startHeartbeat(
  db: Db,
  args: ExecutorIdentity & {
    intervalMs: number;
    log: Logger;
    snapshot: () => HeartbeatSnapshot;
    /** Sees a failed beat first; true when it dealt with it (a refused login), so no warning is logged. */
    onFailure?: (err: unknown) => boolean;
  },
): { beat(): Promise<void>; stop(): void; markStopped(): Promise<void> } {
  const startedAt = new Date();
  const beat = async (override?: Partial<HeartbeatSnapshot>): Promise<void> => {
    const s = { ...args.snapshot(), ...override };
    const row = {
      id: args.executorId,
      host: hostname(),
      pid: process.pid,
      started_at: startedAt,
      heartbeat_at: sql<Date>`clock_timestamp()`,
      status: s.status,
      channels: JSON.stringify(s.channels),
      breakers: JSON.stringify(s.breakers),
      local_gate_enabled: s.localGateEnabled,
      in_flight: s.inFlight,
      handoff_version: args.handoffVersion,
      schema_version: args.schemaVersion,
      policy_version: s.policy.version,
      policy_sha256: s.policy.sha256,
      reported_clock: new Date(),
    };
    await db
      .insertInto('executors')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
  };
  const timer = setInterval(() => {
    beat().catch((err: unknown) => {
      if (!args.onFailure?.(err)) args.log.warn({ err: (err as Error).message }, 'heartbeat failed');
    });
  }, args.intervalMs);
  timer.unref();
  return {
    beat: () => beat(),
    stop: () => clearInterval(timer),
    markStopped: () => beat({ status: 'stopped', inFlight: 0 }),
  };
}
