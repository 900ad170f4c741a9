import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import {
  ApiError,
  formatIssues,
  type CreateIntentBody,
  type FieldIssue,
  type Intent,
  type IntentDetail,
  type ListIntentsQuery,
  type Policy,
  type SetGateBody,
} from '@handoff/contracts';
import { LOCK_GATES, type Db } from '@handoff/db';
import type { IntentService } from './api.ts';
import { needsApproval } from './approvalPolicy.ts';
import { buildLiveReport } from './live.ts';
import { payloadHash } from './payloadHash.ts';
import { fromStates, initialState, transition, type TransitionName } from './stateMachine.ts';
import { listIntents } from './sql/listIntents.ts';
import { toAttempt, toGate, toIntent, toReceipt, type IntentRow } from './sql/rows.ts';
import { reticketCovered } from './sql/sweep.ts';
import { createIntentBatcher } from './createBatcher.ts';
import { sendTicket } from './tickets.ts';

/** What the store needs to know of connectors; @handoff/connectors' registry satisfies it. */
export interface ConnectorCatalog {
  get(name: string): { externalEffect: boolean } | undefined;
  names(): string[];
  validatePayload(channel: string, payload: unknown): { ok: true; payload: unknown } | { ok: false; issues: FieldIssue[] };
}

export interface IntentServiceDeps {
  db: Db;
  boss: PgBoss;
  connectors: ConnectorCatalog;
  policy: () => Policy;
  log: Logger;
}

export const GATES_CHANNEL = 'handoff_gates';

/**
 * The most JSON one intent's payload may hold, however it arrives (HTTP or the agent's
 * propose_intent): the coordinator's request body limit, so no path stores more than the API takes.
 */
export const MAX_INTENT_PAYLOAD_BYTES = 1024 * 1024;

export function createIntentService(deps: IntentServiceDeps): IntentService {
  const { db, boss, connectors, policy, log } = deps;
  const insertIntent = createIntentBatcher(db, boss);

  async function audit(
    executor: Db,
    entry: { actor: string; action: string; target?: string; details?: Record<string, unknown> },
  ): Promise<void> {
    await executor
      .insertInto('audit_log')
      .values({ actor: entry.actor, action: entry.action, target: entry.target ?? null, details: JSON.stringify(entry.details ?? {}) })
      .execute();
  }

  async function lockIntent(trx: Db, id: string): Promise<IntentRow> {
    const row = await trx.selectFrom('intents').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row) throw new ApiError(404, 'not_found', `no intent with id ${id}`);
    return row;
  }

  function assertFrom(row: IntentRow, name: TransitionName, verb: string): void {
    if (!fromStates(name).includes(row.state)) {
      throw new ApiError(409, 'invalid_state', `cannot ${verb} intent ${row.id}: it is ${row.state}`, {
        state: row.state,
        allowedFrom: fromStates(name),
      });
    }
  }

  const service: IntentService = {
    async create(body: CreateIntentBody, actor: string) {
      const connector = connectors.get(body.channel);
      if (!connector) {
        throw new ApiError(400, 'unknown_channel', `channel: unknown connector "${body.channel}"`, {
          known: connectors.names(),
        });
      }
      const checked = connectors.validatePayload(body.channel, body.payload);
      if (!checked.ok) {
        throw new ApiError(400, 'validation_failed', formatIssues(checked.issues), checked.issues);
      }
      const payloadJson = JSON.stringify(body.payload);
      const payloadBytes = Buffer.byteLength(payloadJson, 'utf8');
      if (payloadBytes > MAX_INTENT_PAYLOAD_BYTES) {
        const message = `payload is ${payloadBytes} bytes of JSON; an intent holds at most ${MAX_INTENT_PAYLOAD_BYTES}`;
        throw new ApiError(400, 'validation_failed', message, [{ path: 'payload', message }]);
      }
      const current = policy();
      const hash = payloadHash(body.channel, body.account, body.payload);
      const requiresApproval = needsApproval(current, {
        channel: body.channel,
        account: body.account,
        externalEffect: connector.externalEffect,
        requested: body.requiresApproval,
      });
      const state = initialState(requiresApproval);
      const notBefore = body.notBefore ? new Date(body.notBefore) : null;

      return insertIntent({
        row: {
          id: randomUUID(),
          idempotency_key: body.idempotencyKey,
          channel: body.channel,
          account: body.account,
          payload: payloadJson,
          payload_hash: hash,
          state,
          requires_approval: requiresApproval,
          created_by: actor,
          not_before: notBefore,
          run_after: notBefore,
          max_attempts: body.maxAttempts ?? current.retry.maxAttempts,
          approved_by: null,
          approved_at: null,
          approved_payload_hash: null,
          approval_expires_at: null,
          lease_owner: null,
          lease_expires_at: null,
          last_error: null,
          state_reason: requiresApproval ? 'waiting for approval' : 'no approval needed by policy',
        },
        ticket: !requiresApproval,
        notBefore,
      });
    },

    async list(query: ListIntentsQuery) {
      return listIntents(db, query);
    },

    async get(id: string): Promise<IntentDetail | null> {
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
          expiresAt: a.expires_at ? new Date(a.expires_at).toISOString() : null,
          createdAt: new Date(a.created_at).toISOString(),
        })),
      };
    },

    async approve(id, actor, reason) {
      const ttl = policy().approval.ttlSeconds;
      return db.transaction().execute(async (trx) => {
        const row = await lockIntent(trx, id);
        assertFrom(row, 'approve', 'approve');
        const expiresAt = new Date(Date.now() + ttl * 1000);
        // bound to the payload hash the operator saw; the claim refuses any other
        const updated = await trx
          .updateTable('intents')
          .set({
            state: transition('approve').to,
            approved_by: actor,
            approved_at: sql<Date>`clock_timestamp()`,
            approved_payload_hash: row.payload_hash,
            approval_expires_at: expiresAt,
            state_reason: reason ?? transition('approve').why,
            updated_at: sql<Date>`clock_timestamp()`,
          })
          .where('id', '=', id)
          .where('state', 'in', fromStates('approve'))
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('approvals')
          .values({ intent_id: id, decision: 'approve', actor, reason: reason ?? null, payload_hash: row.payload_hash, expires_at: expiresAt })
          .execute();
        await audit(trx, { actor, action: 'intent.approve', target: id, details: { reason: reason ?? null, payloadHash: row.payload_hash } });
        await sendTicket(boss, trx, row.channel, id, row.run_after);
        return toIntent(updated);
      });
    },

    async reject(id, actor, reason) {
      return db.transaction().execute(async (trx) => {
        const row = await lockIntent(trx, id);
        assertFrom(row, 'reject', 'reject');
        const updated = await trx
          .updateTable('intents')
          .set({ state: transition('reject').to, state_reason: reason, updated_at: sql<Date>`clock_timestamp()` })
          .where('id', '=', id)
          .where('state', 'in', fromStates('reject'))
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('approvals')
          .values({ intent_id: id, decision: 'reject', actor, reason, payload_hash: row.payload_hash, expires_at: null })
          .execute();
        await audit(trx, { actor, action: 'intent.reject', target: id, details: { reason } });
        return toIntent(updated);
      });
    },

    async retry(id, actor, reason) {
      const ttl = policy().approval.ttlSeconds;
      return db.transaction().execute(async (trx) => {
        const row = await lockIntent(trx, id);
        assertFrom(row, 'operatorRetry', 'retry');
        const expiresAt = new Date(Date.now() + ttl * 1000);
        // the operator's retry is itself an approval of this payload, with a fresh attempt budget
        const updated = await trx
          .updateTable('intents')
          .set({
            state: transition('operatorRetry').to,
            failed_attempts: 0,
            run_after: null,
            approved_by: actor,
            approved_at: sql<Date>`clock_timestamp()`,
            approved_payload_hash: row.payload_hash,
            approval_expires_at: expiresAt,
            state_reason: reason ?? transition('operatorRetry').why,
            updated_at: sql<Date>`clock_timestamp()`,
          })
          .where('id', '=', id)
          .where('state', 'in', fromStates('operatorRetry'))
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('approvals')
          .values({ intent_id: id, decision: 'approve', actor, reason: reason ?? 'retry', payload_hash: row.payload_hash, expires_at: expiresAt })
          .execute();
        await audit(trx, { actor, action: 'intent.retry', target: id, details: { from: row.state, reason: reason ?? null } });
        await sendTicket(boss, trx, row.channel, id, null);
        return toIntent(updated);
      });
    },

    async resolve(id, actor, body) {
      return db.transaction().execute(async (trx) => {
        const row = await lockIntent(trx, id);
        assertFrom(row, 'operatorResolve', 'resolve');
        const updated = await trx
          .updateTable('intents')
          .set({
            state: transition('operatorResolve').to,
            state_reason: body.reason ?? transition('operatorResolve').why,
            updated_at: sql<Date>`clock_timestamp()`,
          })
          .where('id', '=', id)
          .where('state', 'in', fromStates('operatorResolve'))
          .returningAll()
          .executeTakeFirstOrThrow();
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
        await audit(trx, { actor, action: 'intent.resolve', target: id, details: { externalId: body.externalId, url: body.url ?? null, reason: body.reason ?? null } });
        return toIntent(updated);
      });
    },

    async listGates() {
      const rows = await db.selectFrom('gates').selectAll().orderBy('scope').execute();
      return rows.map(toGate);
    },

    async setGate(scope: string, body: SetGateBody, actor: string) {
      const gate = await db.transaction().execute(async (trx) => {
        // exclusive against recordAttempt's shared lock: see LOCK_GATES
        await sql`SELECT pg_advisory_xact_lock(${LOCK_GATES})`.execute(trx);
        const row = await trx
          .insertInto('gates')
          .values({ scope, enabled: body.enabled, reason: body.reason ?? null, updated_by: actor })
          .onConflict((oc) =>
            oc.column('scope').doUpdateSet({
              enabled: body.enabled,
              reason: body.reason ?? null,
              updated_by: actor,
              updated_at: sql<Date>`clock_timestamp()`,
            }),
          )
          .returningAll()
          .executeTakeFirstOrThrow();
        await trx.insertInto('gate_history').values({ scope, enabled: body.enabled, reason: body.reason ?? null, actor }).execute();
        await audit(trx, { actor, action: body.enabled ? 'gate.open' : 'gate.close', target: scope, details: { reason: body.reason ?? null } });
        await sql`SELECT pg_notify(${GATES_CHANNEL}, ${JSON.stringify({ scope, enabled: body.enabled })})`.execute(trx);
        return toGate(row);
      });
      if (body.enabled) {
        const woken = await reticketCovered(db, boss, scope);
        log.info({ scope, woken }, 'gate opened; covered intents re-ticketed');
      } else {
        log.warn({ scope, reason: body.reason }, 'gate closed');
      }
      return gate;
    },

    live: () => buildLiveReport(db),

    audit: (entry) => audit(db, entry),
  };
  return service;
}


export type { Intent };
