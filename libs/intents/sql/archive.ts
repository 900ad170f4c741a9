import { sql } from 'kysely';
import type { ArchivedIntent } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { FINISHED_STATES } from '../stateMachine.ts';
import { stateList } from './states.ts';

/**
 * The archive's two statements (migration 013): read finished intents with every row of theirs,
 * and remove them through handoff_archive_intents, the one audited way past the append-only
 * triggers. Rows are read as to_jsonb, every column as Postgres holds it.
 */

/** Up to `limit` finished intents created before `before`, after the id `after`, ids ascending. */
export async function readArchiveBatch(
  db: Db,
  opts: { before: string; after?: string; limit: number },
): Promise<ArchivedIntent[]> {
  const { rows } = await sql<ArchivedIntent>`
    SELECT to_jsonb(i) AS intent,
      coalesce((SELECT jsonb_agg(to_jsonb(a) ORDER BY a.id) FROM approvals a WHERE a.intent_id = i.id), '[]') AS approvals,
      coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.attempt_no) FROM attempts t WHERE t.intent_id = i.id), '[]') AS attempts,
      coalesce((SELECT jsonb_agg(to_jsonb(r) ORDER BY r.id) FROM receipts r WHERE r.intent_id = i.id), '[]') AS receipts
    FROM intents i
    WHERE i.state IN (${stateList(FINISHED_STATES)})
      AND i.created_at < ${opts.before}::timestamptz
      AND (${opts.after ?? null}::uuid IS NULL OR i.id > ${opts.after ?? null}::uuid)
    ORDER BY i.id
    LIMIT ${opts.limit}`.execute(db);
  return rows;
}

/** Removes those of `ids` that are finished, with their rows, and audits it; answers the ids removed. */
export async function removeArchived(
  db: Db,
  ids: string[],
  actor: string,
  details: Record<string, unknown>,
): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    SELECT handoff_archive_intents(${ids}::uuid[], ${[...FINISHED_STATES]}::text[], ${actor}, ${JSON.stringify(details)}::jsonb) AS id`.execute(
    db,
  );
  return rows.map((r) => r.id);
}
