import { sql } from 'kysely';
import type { AuditList, AuditQuery } from '@handoff/contracts';
import type { Db } from '@handoff/db';

export interface AuditEntry {
  actor: string;
  action: string;
  target?: string;
  details?: Record<string, unknown>;
}

/** One line of the audit log; written in the caller's transaction when `db` is one. */
export async function appendAudit(db: Db, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      details: JSON.stringify(entry.details ?? {}),
    })
    .execute();
}

/**
 * One page of the audit log, newest first by id, after `query.cursor` (the id of the page's last
 * row). Each row names its actor's token when there is one (`actorName`, a label). `actor` matches
 * the recorded `<role>:<id>` or a token's name, ignoring case; `action` an action or its family.
 */
export async function listAudit(db: Db, query: AuditQuery): Promise<AuditList> {
  let q = db
    .selectFrom('audit_log as a')
    .leftJoin('api_tokens as t', (join) => join.on(sql<boolean>`a.actor = t.role || ':' || t.id::text`))
    .select(['a.id', 'a.created_at', 'a.actor', 'a.action', 'a.target', 'a.details', 't.name as actor_name'])
    .orderBy('a.id', 'desc')
    .limit(query.limit + 1);
  if (query.since !== undefined)
    q = q.where(sql<boolean>`a.created_at >= clock_timestamp() - make_interval(secs => ${query.since})`);
  if (query.actor !== undefined) {
    const actor = query.actor;
    q = q.where((eb) =>
      eb.or([
        eb('a.actor', '=', actor),
        eb(
          'a.actor',
          'in',
          eb
            .selectFrom('api_tokens')
            .select(sql<string>`role || ':' || id::text`.as('actor'))
            .where(sql<boolean>`lower(name) = lower(${actor})`),
        ),
      ]),
    );
  }
  if (query.action !== undefined) {
    const action = query.action;
    // `_` is a LIKE wildcard: escaped, so a family matches only its own actions
    const family = `${action.replaceAll('_', '\\_')}.%`;
    q = q.where((eb) => eb.or([eb('a.action', '=', action), eb('a.action', 'like', family)]));
  }
  if (query.target !== undefined) q = q.where('a.target', '=', query.target);
  if (query.cursor !== undefined) q = q.where('a.id', '<', query.cursor);
  const rows = await q.execute();
  const page = rows.slice(0, query.limit);
  return {
    entries: page.map((r) => ({
      id: String(r.id),
      at: r.created_at.toISOString(),
      actor: r.actor,
      actorName: r.actor_name ?? null,
      action: r.action,
      target: r.target,
      details: r.details,
    })),
    nextCursor: rows.length > query.limit && page.length > 0 ? String(page[page.length - 1]!.id) : null,
  };
}
