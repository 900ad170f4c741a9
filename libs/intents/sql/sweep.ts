import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { LOCK_SWEEPER, type Db } from '@handoff/db';
import { AWAITING_APPROVAL, LEASED, RUNNABLE_STATES, fromStates, transition } from '../stateMachine.ts';
import { sendTickets } from '../tickets.ts';
import { noClosedGateCovers } from './gates.ts';
import { stateList, stateLiteral } from './states.ts';

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
 * eligible intents that hold no live ticket. One sweeper at a time across every process.
 */
export async function sweep(db: Db, boss: PgBoss, opts: SweepOptions): Promise<SweepResult | null> {
  return db.transaction().execute(async (trx) => {
    const lock = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(${LOCK_SWEEPER}) AS locked`.execute(
      trx,
    );
    if (!lock.rows[0]?.locked) return null;

    const expire = transition('expire');
    const expiredPending = await sql`
      UPDATE intents SET state = ${expire.to}, state_reason = 'nobody approved or rejected it in time',
        updated_at = clock_timestamp()
      WHERE state = ${stateLiteral(AWAITING_APPROVAL)} AND state = ANY(${fromStates('expire')})
        AND created_at < clock_timestamp() - make_interval(secs => ${opts.pendingTtlSeconds})`.execute(trx);
    const expiredApprovals = await sql`
      UPDATE intents SET state = ${expire.to}, state_reason = 'the approval lapsed before the first lease',
        updated_at = clock_timestamp()
      WHERE state = ${stateLiteral(transition('approve').to)} AND state = ANY(${fromStates('expire')}) AND requires_approval
        AND lease_epoch = 0 AND approval_expires_at < clock_timestamp()`.execute(trx);

    const stranded = await sql<{ id: string; channel: string; run_after: Date | null }>`
      WITH s AS (
        SELECT i.id FROM intents i
        WHERE ((i.state = ${stateLiteral(LEASED)} AND i.lease_expires_at < clock_timestamp())
            OR (i.state IN (${stateList(RUNNABLE_STATES)})
                AND COALESCE(i.run_after, i.updated_at) < clock_timestamp() - make_interval(secs => ${opts.eligibleGraceSeconds})))
          AND (i.swept_at IS NULL OR i.swept_at < clock_timestamp() - make_interval(secs => ${opts.reissueSeconds}))
          AND ${noClosedGateCovers('i')}
        ORDER BY i.updated_at
        LIMIT ${opts.batch}
        FOR UPDATE SKIP LOCKED)
      UPDATE intents SET swept_at = clock_timestamp() FROM s WHERE intents.id = s.id
      RETURNING intents.id, intents.channel, intents.run_after`.execute(trx);
    await sendTickets(
      boss,
      trx,
      stranded.rows.map((r) => ({ channel: r.channel, intentId: r.id })),
    );
    return {
      expired: Number(expiredPending.numAffectedRows ?? 0) + Number(expiredApprovals.numAffectedRows ?? 0),
      reticketed: stranded.rows.length,
    };
  });
}
