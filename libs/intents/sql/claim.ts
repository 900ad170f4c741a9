import { sql } from 'kysely';
import type { Db } from '@handoff/db';
import { LEASED, fromStates, transition } from '../stateMachine.ts';
import { noClosedGateCovers } from './gates.ts';
import type { IntentRow } from './rows.ts';
import { stateLiteral } from './states.ts';

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
 * are not eligible are simply absent from the answer.
 */
export async function claimLeases(
  db: Db,
  args: { intentIds: string[]; owner: string; ttlSeconds: number; heldKeys: string[] },
): Promise<ClaimedLease[]> {
  if (args.intentIds.length === 0) return [];
  const result = await sql<IntentRow & { open_attempt: OpenAttempt | null }>`
    WITH locked AS (
      SELECT id FROM intents WHERE id = ANY(${args.intentIds}::uuid[]) ORDER BY id FOR UPDATE)
    UPDATE intents i SET
      state = ${transition('lease').to},
      lease_epoch = i.lease_epoch + 1,
      lease_owner = ${args.owner},
      lease_expires_at = clock_timestamp() + make_interval(secs => ${args.ttlSeconds}),
      updated_at = clock_timestamp()
    FROM locked
    WHERE i.id = locked.id
      AND i.state = ANY(${fromStates('lease')})
      AND CASE WHEN i.state = ${stateLiteral(LEASED)}
            THEN i.lease_expires_at < clock_timestamp()
            ELSE (i.run_after IS NULL OR i.run_after <= clock_timestamp()) END
      AND (NOT i.requires_approval OR (
            i.approved_payload_hash = i.payload_hash
            -- an approval is needed to start; once leased, retries and takeovers carry on
            AND (i.lease_epoch > 0 OR i.approval_expires_at > clock_timestamp())))
      AND (i.channel || ':*' = ANY(${args.heldKeys}) OR i.channel || ':' || i.account = ANY(${args.heldKeys}))
      AND ${noClosedGateCovers('i')}
    RETURNING i.*,
      (SELECT row_to_json(a) FROM (
         SELECT attempt_no, lease_epoch, executor_id, started_at FROM attempts
         WHERE intent_id = i.id AND finished_at IS NULL ORDER BY attempt_no DESC LIMIT 1) a) AS open_attempt`.execute(
    db,
  );
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
