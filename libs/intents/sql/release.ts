import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { AttemptOutcome } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { PRIORITY_TOKEN_SLOT, sendTicket } from '../tickets.ts';
import type { Fence } from './receipt.ts';

/**
 * Gives the lease back without burning an attempt: no rate-limit token, breaker open, gate closed
 * since the claim, a provider 429, or shutdown before the effect. The intent is `approved` again with
 * a ticket for `runAfter` in the same transaction; `runAfter` null means "as soon as possible" (a
 * gated intent is picked up again by the sweeper when the gate opens). False (nothing written) when
 * the epoch is no longer ours. The intent's statement is `handoff_release_lease`
 * (migrations/005_node_roles.sql), callable by a node's role; the ticket is pg-boss's.
 */
export async function releaseLease(
  db: Db,
  boss: PgBoss,
  fence: Fence & { channel: string },
  args: { runAfter: Date | null; reason: string; attemptOutcome?: AttemptOutcome; inLineForToken?: boolean },
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const result = await sql<{ released: boolean }>`
      SELECT handoff_release_lease(${fence.intentId}::uuid, ${fence.epoch}::int, ${args.runAfter}::timestamptz,
        ${args.reason}::text, ${args.attemptOutcome ?? null}::text) AS released`.execute(trx);
    if (result.rows[0]?.released !== true) return false;
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
