import { sql, type UpdateObject } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { Intent } from '@handoff/contracts';
import type { Database, Db } from '@handoff/db';
import { IntentNotFound, InvalidTransition } from '../errors.ts';
import { fromStates, transition } from '../stateMachine.ts';
import { sendTicket } from '../tickets.ts';
import { appendAudit } from './audit.ts';
import { toIntent, type IntentRow } from './rows.ts';

/*
 * The operator's decisions on one intent: approve, reject, retry and resolve. Each is one
 * transaction that locks the intent, refuses a state its transition does not start from (an
 * InvalidTransition naming the allowed states), moves it, and records the decision and an audit line.
 */

type OperatorTransition = 'approve' | 'reject' | 'operatorRetry' | 'operatorResolve';

/** The word an operator used, for the refusal's message. */
const VERB: Record<OperatorTransition, string> = {
  approve: 'approve',
  reject: 'reject',
  operatorRetry: 'retry',
  operatorResolve: 'resolve',
};

/** Approves the exact payload the operator saw: the claim refuses any other (see claim.ts). */
export function approveIntent(
  db: Db,
  boss: PgBoss,
  id: string,
  actor: string,
  reason: string | undefined,
  ttlSeconds: number,
): Promise<Intent> {
  return grantApproval(db, boss, 'approve', { id, actor, reason, ttlSeconds });
}

/** dead or in_doubt -> approved: the operator's retry is itself an approval, with a fresh attempt budget, due now. */
export function retryIntent(
  db: Db,
  boss: PgBoss,
  id: string,
  actor: string,
  reason: string | undefined,
  ttlSeconds: number,
): Promise<Intent> {
  return grantApproval(db, boss, 'operatorRetry', { id, actor, reason, ttlSeconds });
}

export function rejectIntent(db: Db, id: string, actor: string, reason: string): Promise<Intent> {
  return db.transaction().execute(async (trx) => {
    const row = await lockFor(trx, id, 'reject');
    const updated = await move(trx, row, 'reject', { state_reason: reason });
    await trx
      .insertInto('approvals')
      .values({ intent_id: id, decision: 'reject', actor, reason, payload_hash: row.payload_hash, expires_at: null })
      .execute();
    await appendAudit(trx, { actor, action: 'intent.reject', target: id, details: { reason } });
    return toIntent(updated);
  });
}

/** in_doubt -> succeeded, with an operator receipt naming the external id the operator found. */
export function resolveIntent(
  db: Db,
  id: string,
  actor: string,
  body: { externalId: string; url?: string; reason?: string },
): Promise<Intent> {
  return db.transaction().execute(async (trx) => {
    const row = await lockFor(trx, id, 'operatorResolve');
    const updated = await move(trx, row, 'operatorResolve', {
      state_reason: body.reason ?? transition('operatorResolve').why,
    });
    await trx
      .insertInto('receipts')
      .values({
        intent_id: id,
        attempt_no: null,
        lease_epoch: row.lease_epoch,
        kind: 'success',
        external_id: body.externalId,
        url: body.url ?? null,
        error_class: null,
        error_message: null,
        executor_id: null,
        source: 'operator',
      })
      .execute();
    await appendAudit(trx, {
      actor,
      action: 'intent.resolve',
      target: id,
      details: { externalId: body.externalId, url: body.url ?? null, reason: body.reason ?? null },
    });
    return toIntent(updated);
  });
}

/**
 * Approve and retry: an approval bound to the payload hash, valid for `ttlSeconds`, recorded in
 * `approvals`, with the intent's wake-up ticket in the same transaction. A retry also resets the
 * attempt budget and runs now; an approval keeps the intent's own `run_after` (its notBefore).
 */
async function grantApproval(
  db: Db,
  boss: PgBoss,
  name: 'approve' | 'operatorRetry',
  args: { id: string; actor: string; reason: string | undefined; ttlSeconds: number },
): Promise<Intent> {
  const { id, actor, reason } = args;
  const isRetry = name === 'operatorRetry';
  return db.transaction().execute(async (trx) => {
    const row = await lockFor(trx, id, name);
    const expiresAt = new Date(Date.now() + args.ttlSeconds * 1000);
    const updated = await move(trx, row, name, {
      ...(isRetry ? { failed_attempts: 0, run_after: null } : {}),
      approved_by: actor,
      approved_at: sql<Date>`clock_timestamp()`,
      approved_payload_hash: row.payload_hash,
      approval_expires_at: expiresAt,
      state_reason: reason ?? transition(name).why,
    });
    await trx
      .insertInto('approvals')
      .values({
        intent_id: id,
        decision: 'approve',
        actor,
        reason: reason ?? (isRetry ? 'retry' : null),
        payload_hash: row.payload_hash,
        expires_at: expiresAt,
      })
      .execute();
    await appendAudit(
      trx,
      isRetry
        ? { actor, action: 'intent.retry', target: id, details: { from: row.state, reason: reason ?? null } }
        : {
            actor,
            action: 'intent.approve',
            target: id,
            details: { reason: reason ?? null, payloadHash: row.payload_hash },
          },
    );
    await sendTicket(boss, trx, row.channel, id, isRetry ? null : row.run_after);
    return toIntent(updated);
  });
}

/** Locks the intent for the rest of the transaction, refusing a state `name` does not start from. */
async function lockFor(trx: Db, id: string, name: OperatorTransition): Promise<IntentRow> {
  const row = await trx.selectFrom('intents').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!row) throw new IntentNotFound(id);
  if (!fromStates(name).includes(row.state)) throw new InvalidTransition(id, VERB[name], row.state, fromStates(name));
  return row;
}

/** The state write itself, guarded by the transition's source states like every other. */
function move(
  trx: Db,
  row: IntentRow,
  name: OperatorTransition,
  set: UpdateObject<Database, 'intents'>,
): Promise<IntentRow> {
  return trx
    .updateTable('intents')
    .set({ ...set, state: transition(name).to, updated_at: sql<Date>`clock_timestamp()` })
    .where('id', '=', row.id)
    .where('state', 'in', fromStates(name))
    .returningAll()
    .executeTakeFirstOrThrow();
}
