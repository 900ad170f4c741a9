import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { AttemptOutcome } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { fromStates, transition } from '../stateMachine.ts';
import { PRIORITY_TOKEN_SLOT, sendTicket } from '../tickets.ts';
import type { Fence } from './receipt.ts';

/**
 * Gives the lease back without burning an attempt: no rate-limit token, breaker open, gate closed
 * since the claim, a provider 429, or shutdown before the effect. The intent is `approved` again with
 * a ticket for `runAfter` in the same transaction; `runAfter` null means "as soon as possible" (a
 * gated intent is picked up again by the sweeper when the gate opens). False (nothing written) when
 * the epoch is no longer ours.
 */
export async function releaseLease(
  db: Db,
  boss: PgBoss,
  fence: Fence & { channel: string },
  args: { runAfter: Date | null; reason: string; attemptOutcome?: AttemptOutcome; inLineForToken?: boolean },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const result = await sql<{ id: string }>`
      UPDATE intents SET state = ${transition('release').to}, lease_owner = NULL, lease_expires_at = NULL,
        run_after = ${args.runAfter}, state_reason = ${args.reason}, updated_at = clock_timestamp()
      WHERE id = ${fence.intentId} AND lease_epoch = ${fence.epoch} AND state = ANY(${fromStates('release')})
      RETURNING id`.execute(trx);
    if (result.rows.length === 0) return false;
    if (args.attemptOutcome) {
      // only this epoch's attempt: an earlier holder's open attempt still needs reconciling
      await sql`UPDATE attempts SET finished_at = clock_timestamp(), outcome = ${args.attemptOutcome}
        WHERE intent_id = ${fence.intentId} AND lease_epoch = ${fence.epoch} AND finished_at IS NULL`.execute(trx);
    }
    await sendTicket(
      boss,
      trx,
      fence.channel,
      fence.intentId,
      args.runAfter,
      args.inLineForToken ? PRIORITY_TOKEN_SLOT : 0,
    );
    return true;
  });
}
