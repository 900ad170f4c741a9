import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { Db } from '@handoff/db';
import { sendTicket } from '../tickets.ts';
import type { Fence } from './receipt.ts';

/**
 * A retryable failure with attempts left: `retry_wait` until `runAfter`, this epoch's attempt closed
 * as retryable, and a ticket for that moment, in one transaction, so the wake-up cannot be lost
 * between the two. False (nothing written) when the epoch is no longer ours. The intent's and
 * attempt's statement is `handoff_schedule_retry` (migrations/005_node_roles.sql).
 */
export async function scheduleRetry(
  db: Db,
  boss: PgBoss,
  fence: Fence & { channel: string },
  args: { runAfter: Date; errorClass: string; message: string },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const moved = await sql<{ scheduled: boolean }>`
      SELECT handoff_schedule_retry(${fence.intentId}::uuid, ${fence.epoch}::int, ${args.runAfter}::timestamptz,
        ${args.errorClass}::text, ${args.message}::text) AS scheduled`.execute(trx);
    if (moved.rows[0]?.scheduled !== true) return false;
    await sendTicket(boss, trx, fence.channel, fence.intentId, args.runAfter);
    return true;
  });
}
