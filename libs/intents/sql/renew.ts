import { sql } from 'kysely';
import type { Db } from '@handoff/db';

/**
 * Extends the lease while the effect runs. False means the lease is no longer ours: stop. The
 * statement is `handoff_renew_lease` (migrations/005_node_roles.sql), callable by a node's role.
 */
export async function renewLease(
  db: Db,
  args: { intentId: string; owner: string; epoch: number; ttlSeconds: number },
): Promise<boolean> {
  const result = await sql<{ renewed: boolean }>`
    SELECT handoff_renew_lease(${args.intentId}::uuid, ${args.owner}::text, ${args.epoch}::int,
      ${args.ttlSeconds}::float8) AS renewed`.execute(db);
  return result.rows[0]?.renewed === true;
}
