import type { Insertable } from 'kysely';
import type { PgBoss } from 'pg-boss';
import type { Intent } from '@handoff/contracts';
import { groupRequests, type Db, type IntentsTable } from '@handoff/db';
import { IdempotencyConflict, InvalidIntent } from '../errors.ts';
import { sendTickets } from '../tickets.ts';
import { toIntent, type IntentRow } from './rows.ts';

export interface NewIntent {
  row: Insertable<IntentsTable> & { id: string; idempotency_key: string; payload_hash: string; channel: string };
  /** Approved at birth: its wake-up ticket is written in the same transaction. */
  ticket: boolean;
  notBefore: Date | null;
}

export type CreateOutcome = { intent: Intent; created: boolean };

/**
 * Concurrent creates are written together (group commit, see groupRequests): one transaction, one
 * multi-row INSERT ... ON CONFLICT DO NOTHING, one ticket insert per channel, one lookup of the keys
 * that already existed. The outcome of each create is exactly what it would be alone: created, a
 * replay of the same payload (the existing intent), or IdempotencyConflict for a different payload under the key.
 * Two creates with one key in the same group are one insert and one replay, in arrival order.
 * A row Postgres refuses (validation should have caught it; this is the last line) fails only its
 * own create, as InvalidIntent: its group is written again one create at a time.
 */
export function createIntentBatcher(db: Db, boss: PgBoss): (create: NewIntent) => Promise<CreateOutcome> {
  const writeGroup = (creates: readonly NewIntent[]): Promise<(CreateOutcome | Error)[]> =>
    db.transaction().execute(async (trx) => {
      const firstByKey = new Map<string, NewIntent>();
      for (const c of creates) if (!firstByKey.has(c.row.idempotency_key)) firstByKey.set(c.row.idempotency_key, c);
      const inserted = await trx
        .insertInto('intents')
        .values([...firstByKey.values()].map((c) => c.row))
        .onConflict((oc) => oc.column('idempotency_key').doNothing())
        .returningAll()
        .execute();
      const insertedIds = new Set(inserted.map((r) => r.id));
      const ticketed = [...firstByKey.values()].filter((c) => c.ticket && insertedIds.has(c.row.id));
      if (ticketed.length > 0) {
        await sendTickets(
          boss,
          trx,
          ticketed.map((c) => ({ channel: c.row.channel, intentId: c.row.id, startAfter: c.notBefore })),
        );
      }

      const byKey = new Map<string, IntentRow>(inserted.map((r) => [r.idempotency_key, r]));
      const existingKeys = creates.map((c) => c.row.idempotency_key).filter((k) => !byKey.has(k));
      if (existingKeys.length > 0) {
        // the key existed before (or a concurrent group just committed it)
        const existing = await trx
          .selectFrom('intents')
          .selectAll()
          .where('idempotency_key', 'in', [...new Set(existingKeys)])
          .execute();
        for (const r of existing) byKey.set(r.idempotency_key, r);
      }
      return creates.map((c): CreateOutcome | Error => {
        const row = byKey.get(c.row.idempotency_key);
        if (!row) return new Error(`intent with key ${c.row.idempotency_key} neither inserted nor found`);
        if (row.id === c.row.id) return { intent: toIntent(row), created: true };
        if (row.payload_hash !== c.row.payload_hash) {
          return new IdempotencyConflict(c.row.idempotency_key, row.id);
        }
        return { intent: toIntent(row), created: false };
      });
    });

  return groupRequests<NewIntent, CreateOutcome>(
    async (creates) => {
      try {
        return await writeGroup(creates);
      } catch (err) {
        if (!isRowError(err)) throw err;
        if (creates.length === 1) return [refusedRow(err)];
        // Postgres refused one row and with it the whole statement: write each alone, in arrival
        // order, so only the row it refuses fails (a rare path; the group is written one by one).
        const outcomes: (CreateOutcome | Error)[] = [];
        for (const c of creates) {
          try {
            outcomes.push((await writeGroup([c]))[0]!);
          } catch (alone) {
            outcomes.push(isRowError(alone) ? refusedRow(alone) : (alone as Error));
          }
        }
        return outcomes;
      }
    },
    { maxBatch: 200 },
  );
}

/**
 * An error Postgres raises for what one row holds, not for the database's state: data exceptions
 * (class 22, e.g. a NUL in jsonb) and program limits (54, e.g. nesting). Connection loss,
 * deadlocks, constraint failures of the ticket tables and the like fail the group as they would
 * fail each of its rows.
 */
function isRowError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

/** The refusal of one row: the caller's input could not be stored (the caller's mistake, not a 500). */
function refusedRow(err: Error & { code: string }): InvalidIntent {
  return new InvalidIntent(`payload: Postgres cannot store this intent (${err.code}: ${err.message})`, [
    { path: 'payload', message: err.message },
  ]);
}
