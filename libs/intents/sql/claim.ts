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

/**
 * Takes the leases of a batch of intents in one statement: checks eligibility, approval, gates and
 * what this executor holds; bumps each epoch (the fencing token) and sets the TTL. Rows are locked
 * in id order so two claimers with overlapping batches (a re-issued ticket) queue instead of
 * deadlocking; the second re-checks the WHERE against the new row and finds it leased. Intents that
 * are not eligible are simply absent from the answer. The statement is `handoff_claim_leases`
 * (migrations/005_node_roles.sql), a SECURITY DEFINER function, so a node's role, which may not
 * update intents itself, can claim, and only for the accounts it was registered for.
 */
export async function claimLeases(
  db: Db,
  args: { intentIds: string[]; owner: string; ttlSeconds: number; heldKeys: string[] },
): Promise<ClaimedLease[]> {
  if (args.intentIds.length === 0) return [];
  const result = await sql<IntentRow & { open_attempt: OpenAttempt | null }>`
    SELECT (c.intent).*, c.open_attempt
    FROM handoff_claim_leases(${args.intentIds}::uuid[], ${args.owner}::text, ${args.ttlSeconds}::float8,
      ${args.heldKeys}::text[]) AS c`.execute(db);
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
