import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { LOCK_SWEEPER, type Db } from '@handoff/db';
import { sendTickets } from '../tickets.ts';

export interface SweepOptions {
  /** An approved intent unclaimed for this long is assumed to have lost its ticket. */
  eligibleGraceSeconds: number;
  /** Do not re-issue a ticket for the same intent more often than this. */
  reissueSeconds: number;
  pendingTtlSeconds: number;
  batch: number;
}

export interface SweepResult {
  expired: number;
  reticketed: number;
}

/**
 * Recovery that never depends on pg-boss's own expiry timing: expires undecided intents and
 * lapsed approvals, and issues tickets for leases that expired while running (takeover) and for
 * eligible intents that hold no live ticket. One sweeper at a time across every process. The pass
 * is `handoff_sweep` (migrations/005_node_roles.sql); a node's sweep only re-tickets, expiry is
 * the owner's (decision 86).
 */
export async function sweep(db: Db, boss: PgBoss, opts: SweepOptions): Promise<SweepResult | null> {
  return db.transaction().execute(async (trx) => {
    const lock = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(${LOCK_SWEEPER}) AS locked`.execute(
      trx,
    );
    if (!lock.rows[0]?.locked) return null;

    const pass = await sql<{ result: { expired: number; stranded: { id: string; channel: string }[] } }>`
      SELECT handoff_sweep(${opts.pendingTtlSeconds}::float8, ${opts.eligibleGraceSeconds}::float8,
        ${opts.reissueSeconds}::float8, ${opts.batch}::int) AS result`.execute(trx);
    const { expired, stranded } = pass.rows[0]!.result;
    await sendTickets(
      boss,
      trx,
      stranded.map((r) => ({ channel: r.channel, intentId: r.id })),
    );
    return { expired, reticketed: stranded.length };
  });
}
