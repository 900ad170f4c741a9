import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { AttemptOutcome } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { fromStates, transition } from '../stateMachine.ts';
import { sendTicket } from '../tickets.ts';
import type { Fence } from './receipt.ts';

/**
 * A retryable failure with attempts left: `retry_wait` until `runAfter`, this epoch's attempt closed
 * as retryable, and a ticket for that moment, in one transaction, so the wake-up cannot be lost
 * between the two. False (nothing written) when the epoch is no longer ours.
 */
export async function scheduleRetry(
  db: Db,
  boss: PgBoss,
  fence: Fence & { channel: string },
  args: { runAfter: Date; errorClass: string; message: string },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const moved = await sql<{ id: string }>`
      UPDATE intents SET state = ${transition('retryLater').to}, lease_owner = NULL, lease_expires_at = NULL,
        failed_attempts = failed_attempts + 1, run_after = ${args.runAfter}, last_error = ${args.message},
        state_reason = ${transition('retryLater').why}, updated_at = clock_timestamp()
      WHERE id = ${fence.intentId} AND lease_epoch = ${fence.epoch} AND state = ANY(${fromStates('retryLater')})
      RETURNING id`.execute(trx);
    if (moved.rows.length === 0) return false;
    await sql`UPDATE attempts SET finished_at = clock_timestamp(), outcome = ${AttemptOutcome.enum.retryable},
        error_class = ${args.errorClass}, error_message = ${args.message}
      WHERE intent_id = ${fence.intentId} AND lease_epoch = ${fence.epoch} AND finished_at IS NULL`.execute(trx);
    await sendTicket(boss, trx, fence.channel, fence.intentId, args.runAfter);
    return true;
  });
}
