import type { IntentDetail } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { iso, toAttempt, toIntent, toReceipt } from './rows.ts';

/** One intent with its attempts, receipts and approval decisions, oldest first; null when there is none. */
export async function intentDetail(db: Db, id: string): Promise<IntentDetail | null> {
  const row = await db.selectFrom('intents').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return null;
  const [attempts, receipts, approvals] = await Promise.all([
    db.selectFrom('attempts').selectAll().where('intent_id', '=', id).orderBy('attempt_no').execute(),
    db.selectFrom('receipts').selectAll().where('intent_id', '=', id).orderBy('id').execute(),
    db.selectFrom('approvals').selectAll().where('intent_id', '=', id).orderBy('id').execute(),
  ]);
  return {
    ...toIntent(row),
    attempts: attempts.map(toAttempt),
    receipts: receipts.map(toReceipt),
    approvals: approvals.map((a) => ({
      decision: a.decision,
      actor: a.actor,
      reason: a.reason,
      payloadHash: a.payload_hash,
      expiresAt: iso(a.expires_at),
      createdAt: new Date(a.created_at).toISOString(),
    })),
  };
}
