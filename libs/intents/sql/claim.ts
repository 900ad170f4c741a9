import { sql } from 'kysely';
import type { Db } from '@handoff/db';
import type { IntentRow } from './rows.ts';

export interface OpenAttempt {
  attempt_no: number;
  lease_epoch: number;
  executor_id: string;
  started_at: string;
}

export interface ClaimedLease {
  intent: IntentRow;
  epoch: number;
  /** An attempt an earlier holder began and never closed: the effect may have happened. */
  openAttempt: OpenAttempt | null;
}

/** Postgres's SQLSTATE for a repeatable-read transaction that met a row changed since its snapshot. */
const SERIALIZATION_FAILURE = '40001';
/**
 * Each retry follows someone else's commit on a row of the batch; past this many the claim fails like
 * any Postgres trouble (nothing leased, the sweeper re-tickets).
 */
const CLAIM_TRIES = 10;

/**
 * Takes the leases of a batch of intents in one statement: checks eligibility, approval, gates and
 * what this executor holds; bumps each epoch (the fencing token) and sets the TTL. Rows are locked
 * in id order so two claimers with overlapping batches (a re-issued ticket) queue instead of
 * deadlocking. Intents that are not eligible are simply absent from the answer. The statement is
 * `handoff_claim_leases` (migrations/005_node_roles.sql), a SECURITY DEFINER function, so a node's
 * role, which may not update intents itself, can claim, and only for the accounts it was registered for.
 *
 * It runs at REPEATABLE READ, retried when a row of the batch changed under it (decision 139). At
 * READ COMMITTED a claim that waited for a row lock re-checks that row as committed meanwhile but
 * reads the open attempt from its older snapshot: when the expired holder's attempt committed
 * during that wait, a takeover saw no attempt and called the connector a second time. An attempt is
 * written in the same statement that updates its intent's row, so at REPEATABLE READ such an attempt
 * makes the claim fail instead, and its retry reads the attempt and reconciles it.
 */
export async function claimLeases(
  db: Db,
  args: { intentIds: string[]; owner: string; ttlSeconds: number; heldKeys: string[] },
): Promise<ClaimedLease[]> {
  if (args.intentIds.length === 0) return [];
  for (let tries = 1; ; tries++) {
    try {
      return await db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute((trx) => claimOnce(trx, args));
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      if (code !== SERIALIZATION_FAILURE || tries >= CLAIM_TRIES) throw err;
    }
  }
}

async function claimOnce(
  trx: Db,
  args: { intentIds: string[]; owner: string; ttlSeconds: number; heldKeys: string[] },
): Promise<ClaimedLease[]> {
  const result = await sql<IntentRow & { open_attempt: OpenAttempt | null }>`
    SELECT (c.intent).*, c.open_attempt
    FROM handoff_claim_leases(${args.intentIds}::uuid[], ${args.owner}::text, ${args.ttlSeconds}::float8,
      ${args.heldKeys}::text[]) AS c`.execute(trx);
  return result.rows.map(({ open_attempt, ...intent }) => ({
    intent,
    epoch: intent.lease_epoch,
    openAttempt: open_attempt,
  }));
}

/** One intent's lease (see claimLeases). */
export async function claimLease(
  db: Db,
  args: { intentId: string; owner: string; ttlSeconds: number; heldKeys: string[] },
): Promise<ClaimedLease | null> {
  const [lease] = await claimLeases(db, {
    intentIds: [args.intentId],
    owner: args.owner,
    ttlSeconds: args.ttlSeconds,
    heldKeys: args.heldKeys,
  });
  return lease ?? null;
}
