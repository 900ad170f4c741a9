import { sql } from 'kysely';
import { AttemptOutcome } from '@handoff/contracts';
import type { Db } from '@handoff/db';

/*
 * Receipts: the append-only record of how an intent ended, each written in one statement with the
 * intent's state and its open attempts, all conditional on the writer's epoch. A stale holder writes
 * nothing and is told so. The statements are SECURITY DEFINER functions in
 * migrations/005_node_roles.sql (handoff_append_success_receipts, handoff_append_failure_receipt), so
 * a node's role, which may not touch intents, attempts or receipts itself, can write them for the
 * accounts it was registered for. A success after a takeover's reconcile says 'reconciled after
 * takeover'; an executed success needs no reason (decision 59).
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

/**
 * Success receipts for a batch in one statement. Each row is fenced by its own epoch; the answer
 * names the intents whose receipt was written (a stale holder's is not). Closes every open attempt
 * of each intent, including an earlier holder's that a reconcile just settled.
 */
export async function appendSuccessReceipts(db: Db, receipts: SuccessReceipt[]): Promise<Set<string>> {
  if (receipts.length === 0) return new Set();
  const result = await sql<{ intent_id: string }>`
    SELECT intent_id FROM handoff_append_success_receipts(
      ${receipts.map((r) => r.fence.intentId)}::uuid[], ${receipts.map((r) => r.fence.epoch)}::int[],
      ${receipts.map((r) => r.attemptNo)}::int[], ${receipts.map((r) => r.externalId)}::text[],
      ${receipts.map((r) => r.url)}::text[], ${receipts.map((r) => r.fence.executorId)}::text[],
      ${receipts.map((r) => r.source ?? 'execute')}::text[],
      ${receipts.map((r) => r.outcome ?? AttemptOutcome.enum.succeeded)}::text[]) AS intent_id`.execute(db);
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
  const result = await sql<{ written: boolean }>`
    SELECT handoff_append_failure_receipt(${fence.intentId}::uuid, ${fence.epoch}::int, ${fence.executorId}::text,
      ${args.to}::text, ${args.attemptNo}::int, ${args.errorClass}::text, ${args.message}::text, ${args.source}::text,
      ${args.countFailure}::boolean) AS written`.execute(db);
  return result.rows[0]?.written === true;
}
