import { sql } from 'kysely';
import type { Db } from '@handoff/db';
import { LEASED } from '../stateMachine.ts';
import { stateLiteral } from './states.ts';

/** Extends the lease while the effect runs. False means the lease is no longer ours: stop. */
export async function renewLease(
  db: Db,
  args: { intentId: string; owner: string; epoch: number; ttlSeconds: number },
): Promise<boolean> {
  const result = await sql`
    UPDATE intents SET lease_expires_at = clock_timestamp() + make_interval(secs => ${args.ttlSeconds})
    WHERE id = ${args.intentId} AND lease_epoch = ${args.epoch} AND lease_owner = ${args.owner}
      AND state = ${stateLiteral(LEASED)}`.execute(db);
  return Number(result.numAffectedRows ?? 0) === 1;
}
