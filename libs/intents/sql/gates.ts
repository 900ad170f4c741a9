import { sql, type RawBuilder } from 'kysely';
import type { PgBoss } from 'pg-boss';
import { scopesCovering, type Gate, type SetGateBody } from '@handoff/contracts';
import { LOCK_GATES, type Db } from '@handoff/db';
import { LEASABLE_STATES } from '../stateMachine.ts';
import { sendTickets } from '../tickets.ts';
import { appendAudit } from './audit.ts';
import { toGate } from './rows.ts';
import { stateList } from './states.ts';

/*
 * Gates: the filter every claim, attempt and sweep applies (no closed gate covers the intent), and
 * the operator's writes that open and close them.
 */

/** The channel every executor LISTENs on for gate changes. */
export const GATES_CHANNEL = 'handoff_gates';

// placeholders for the columns: no scope scopesCovering writes holds braces of its own
const CHANNEL = '{channel}';
const ACCOUNT = '{account}';

/**
 * scopesCovering for the intent aliased `alias`, as an SQL list (`'global', i.channel, i.channel ||
 * ':' || i.account`). Written from the contract's function, called with placeholders for the two
 * columns, so the SQL and the executor's listener cannot drift apart.
 */
export function scopesCoveringSql(alias: string): RawBuilder<unknown> {
  const a = sql.ref(alias);
  return sql.join(
    scopesCovering(CHANNEL, ACCOUNT).map((scope) =>
      sql.join(
        scope
          .split(/(\{channel\}|\{account\})/)
          .filter((part) => part !== '')
          .map((part) => (part === CHANNEL ? sql`${a}.channel` : part === ACCOUNT ? sql`${a}.account` : sql.lit(part))),
        sql` || `,
      ),
    ),
  );
}

/** True when no closed gate covers the intent aliased `alias` (see scopesCovering). */
export function noClosedGateCovers(alias: string): RawBuilder<boolean> {
  return sql<boolean>`NOT EXISTS (
    SELECT 1 FROM gates g
    WHERE NOT g.enabled AND g.scope IN (${scopesCoveringSql(alias)}))`;
}

export async function listGates(db: Db): Promise<Gate[]> {
  const rows = await db.selectFrom('gates').selectAll().orderBy('scope').execute();
  return rows.map(toGate);
}

/**
 * Writes the gate, its history and the audit line, and NOTIFYs executors, in one transaction held
 * exclusively against recordAttempt's shared lock (see LOCK_GATES): an attempt either sees the
 * gate closed or was written before it closed.
 */
export async function writeGate(db: Db, scope: string, body: SetGateBody, actor: string): Promise<Gate> {
  return db.transaction().execute(async (trx) => {
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
    await trx
      .insertInto('gate_history')
      .values({ scope, enabled: body.enabled, reason: body.reason ?? null, actor })
      .execute();
    await appendAudit(trx, {
      actor,
      action: body.enabled ? 'gate.open' : 'gate.close',
      target: scope,
      details: { reason: body.reason ?? null },
    });
    await sql`SELECT pg_notify(${GATES_CHANNEL}, ${JSON.stringify({ scope, enabled: body.enabled })})`.execute(trx);
    return toGate(row);
  });
}

/** When a gate opens, wake every eligible intent it covered at once rather than at the next sweep. */
export async function reticketCovered(db: Db, boss: PgBoss, scope: string): Promise<number> {
  const rows = await sql<{ id: string; channel: string; run_after: Date | null }>`
    SELECT i.id, i.channel, i.run_after FROM intents i
    WHERE i.state IN (${stateList(LEASABLE_STATES)})
      AND ${scope} IN (${scopesCoveringSql('i')})
      AND ${noClosedGateCovers('i')}`.execute(db);
  await sendTickets(
    boss,
    db,
    rows.rows.map((r) => ({ channel: r.channel, intentId: r.id, startAfter: r.run_after })),
  );
  return rows.rows.length;
}

/**
 * Removes an OPEN gate's row, with a history line and an audit line, so the scope is no longer
 * listed. Only an open gate goes: a gate is opened first (writeGate, which wakes what it held), and
 * one closed again meanwhile stays. False when there was no open row to remove.
 */
export async function deleteOpenGate(db: Db, scope: string, actor: string, reason: string | null): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK_GATES})`.execute(trx);
    const removed = await trx
      .deleteFrom('gates')
      .where('scope', '=', scope)
      .where('enabled', '=', true)
      .returning('scope')
      .executeTakeFirst();
    if (!removed) return false;
    await trx
      .insertInto('gate_history')
      .values({ scope, enabled: true, reason: reason === null ? 'removed' : `removed: ${reason}`, actor })
      .execute();
    await appendAudit(trx, { actor, action: 'gate.remove', target: scope, details: { reason } });
    return true;
  });
}
