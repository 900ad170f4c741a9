import { sql } from 'kysely';
import { AttemptOutcome } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { fromStates, transition } from '../stateMachine.ts';

/*
 * Receipts: the append-only record of how an intent ended, each written in one statement with the
 * intent's state and its open attempts, all conditional on the writer's epoch. A stale holder writes
 * nothing and is told so.
 */

/** Who holds an intent's lease: the fencing token every executor write carries. */
export interface Fence {
  intentId: string;
  epoch: number;
  executorId: string;
}

export interface SuccessReceipt {
  fence: Fence;
  /** The attempt that did it; null when a reconcile found the effect done without one of ours. */
  attemptNo: number | null;
  externalId: string;
  url: string | null;
  /** `execute` (the default) or `reconcile`: a takeover found the earlier holder's effect done. */
  source?: 'execute' | 'reconcile';
  /** How the open attempts close: `succeeded` by default. */
  outcome?: AttemptOutcome;
}

/** What a success after a takeover's reconcile says; an executed success needs no reason (decision 59). */
const RECONCILED_REASON = 'reconciled after takeover';

/**
 * Success receipts for a batch in one statement. Each row is fenced by its own epoch; the answer
 * names the intents whose receipt was written (a stale holder's is not). Closes every open attempt
 * of each intent, including an earlier holder's that a reconcile just settled.
 */
export async function appendSuccessReceipts(db: Db, receipts: SuccessReceipt[]): Promise<Set<string>> {
  if (receipts.length === 0) return new Set();
  const result = await sql<{ intent_id: string }>`
    WITH input AS (
      SELECT * FROM unnest(
        ${receipts.map((r) => r.fence.intentId)}::uuid[], ${receipts.map((r) => r.fence.epoch)}::int[],
        ${receipts.map((r) => r.attemptNo)}::int[], ${receipts.map((r) => r.externalId)}::text[],
        ${receipts.map((r) => r.url)}::text[], ${receipts.map((r) => r.fence.executorId)}::text[],
        ${receipts.map((r) => r.source ?? 'execute')}::text[],
        ${receipts.map((r) => r.outcome ?? AttemptOutcome.enum.succeeded)}::text[])
        AS t(id, epoch, attempt_no, external_id, url, executor_id, source, outcome)),
    fenced AS (
      UPDATE intents i SET state = ${transition('succeed').to}, lease_owner = NULL, lease_expires_at = NULL,
        last_error = NULL, state_reason = CASE WHEN input.source = 'reconcile' THEN ${RECONCILED_REASON} END,
        updated_at = clock_timestamp()
      FROM input
      WHERE i.id = input.id AND i.lease_epoch = input.epoch AND i.state = ANY(${fromStates('succeed')})
      RETURNING input.*),
    closed AS (
      UPDATE attempts a SET finished_at = clock_timestamp(), outcome = f.outcome
      FROM fenced f WHERE a.intent_id = f.id AND a.finished_at IS NULL)
    INSERT INTO receipts (intent_id, attempt_no, lease_epoch, kind, external_id, url, executor_id, source)
    SELECT id, attempt_no, epoch, 'success', external_id, url, executor_id, source FROM fenced
    RETURNING intent_id`.execute(db);
  return new Set(result.rows.map((r) => r.intent_id));
}

/** One intent's success receipt (see appendSuccessReceipts): false when the epoch is no longer ours. */
export async function appendSuccessReceipt(
  db: Db,
  fence: Fence,
  args: {
    attemptNo: number | null;
    externalId: string;
    url: string | null;
    source: 'execute' | 'reconcile';
    outcome: AttemptOutcome;
  },
): Promise<boolean> {
  return (await appendSuccessReceipts(db, [{ fence, ...args }])).has(fence.intentId);
}

/** A terminal failure: `dead` (permanent, or budget spent) or `in_doubt` (unknown outcome). */
export async function appendFailureReceipt(
  db: Db,
  fence: Fence,
  args: {
    to: 'die' | 'doubt';
    attemptNo: number | null;
    errorClass: string;
    message: string;
    source: 'execute' | 'reconcile';
    countFailure: boolean;
  },
): Promise<boolean> {
  const t = transition(args.to);
  const outcome: AttemptOutcome = args.to === 'die' ? AttemptOutcome.enum.dead : AttemptOutcome.enum.in_doubt;
  const result = await sql<{ id: string }>`
    WITH fenced AS (
      UPDATE intents SET state = ${t.to}, lease_owner = NULL, lease_expires_at = NULL,
        failed_attempts = failed_attempts + ${args.countFailure ? 1 : 0},
        last_error = ${args.message}, state_reason = ${t.why}, updated_at = clock_timestamp()
      WHERE id = ${fence.intentId} AND lease_epoch = ${fence.epoch} AND state = ANY(${fromStates(args.to)})
      RETURNING id),
    closed AS (
      UPDATE attempts SET finished_at = clock_timestamp(), outcome = ${outcome},
        error_class = ${args.errorClass}, error_message = ${args.message}
      WHERE intent_id = ${fence.intentId} AND finished_at IS NULL AND EXISTS (SELECT 1 FROM fenced))
    INSERT INTO receipts (intent_id, attempt_no, lease_epoch, kind, error_class, error_message, executor_id, source)
    SELECT id, ${args.attemptNo}, ${fence.epoch}, 'failure', ${args.errorClass}, ${args.message}, ${fence.executorId}, ${args.source}
    FROM fenced
    RETURNING id`.execute(db);
  return result.rows.length === 1;
}
