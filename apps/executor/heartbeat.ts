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
}

/** The executor's row in `executors`: what `handoff live` shows of it. */
export function startHeartbeat(
  db: Db,
  args: { executorId: string; intervalMs: number; log: Logger; snapshot: () => HeartbeatSnapshot },
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
    };
    await db
      .insertInto('executors')
      .values(row)
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
  };
  const timer = setInterval(() => {
    beat().catch((err: unknown) => args.log.warn({ err: (err as Error).message }, 'heartbeat failed'));
  }, args.intervalMs);
  timer.unref();
  return {
    beat: () => beat(),
    stop: () => clearInterval(timer),
    markStopped: () => beat({ status: 'stopped', inFlight: 0 }),
  };
}
