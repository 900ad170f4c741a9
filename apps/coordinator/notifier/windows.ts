import { sql } from 'kysely';
import { GLOBAL_SCOPE, NOTIFY_CHANNEL, type NotifyEvent } from '@handoff/contracts';
import type { Db } from '@handoff/db';
import type { NoticedEvent } from './digest.ts';

/*
 * Folding (notify_digests): the first unfolded event opens a window of digestSeconds; when it has
 * passed, the window is sealed with every event unfolded at that moment. A sealed digest never
 * changes, so whoever sends it, and however often, builds the same messages under the same keys.
 */

/** The gates that hold every notification: while one is closed, windows stay open and keep folding. */
export const HOLDING_SCOPES = [GLOBAL_SCOPE, NOTIFY_CHANNEL] as const;

export type FoldResult =
  | { window: 'none' }
  | { window: 'open'; digestId: string; closesAt: Date }
  | { window: 'held'; digestId: string; by: string[] }
  | { window: 'sealed'; digestId: string; events: number };

/** One folding step, inside the transaction that holds the notifier's lock (after noticeEvents). */
export async function foldEvents(trx: Db, digestSeconds: number): Promise<FoldResult> {
  const { rows: open } = await sql<{ id: string; closes_at: Date; due: boolean }>`
    SELECT id::text AS id, closes_at, closes_at <= clock_timestamp() AS due
    FROM notify_digests WHERE sealed_at IS NULL`.execute(trx);
  let window = open[0];
  if (!window) {
    const { rows: waiting } = await sql<{ any: boolean }>`
      SELECT EXISTS (SELECT 1 FROM notify_events WHERE digest_id IS NULL) AS any`.execute(trx);
    if (!waiting[0]!.any) return { window: 'none' };
    const { rows } = await sql<{ id: string; closes_at: Date }>`
      INSERT INTO notify_digests (closes_at) VALUES (clock_timestamp() + make_interval(secs => ${digestSeconds}))
      RETURNING id::text AS id, closes_at`.execute(trx);
    window = { ...rows[0]!, due: false };
  }
  if (!window.due) return { window: 'open', digestId: window.id, closesAt: window.closes_at };

  const { rows: closed } = await sql<{ scope: string }>`
    SELECT scope FROM gates WHERE NOT enabled AND scope IN (${sql.join(HOLDING_SCOPES)}) ORDER BY scope`.execute(trx);
  if (closed.length > 0) return { window: 'held', digestId: window.id, by: closed.map((g) => g.scope) };

  const folded = await sql`
    UPDATE notify_events SET digest_id = ${window.id} WHERE digest_id IS NULL`.execute(trx);
  await sql`UPDATE notify_digests SET sealed_at = clock_timestamp() WHERE id = ${window.id}`.execute(trx);
  return { window: 'sealed', digestId: window.id, events: Number(folded.numAffectedRows ?? 0) };
}

/** Sealed digests not yet sent, oldest first. */
export async function unsentDigests(db: Db): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    SELECT id::text AS id FROM notify_digests WHERE sealed_at IS NOT NULL AND sent_at IS NULL ORDER BY id`.execute(db);
  return rows.map((r) => r.id);
}

/** A sealed digest's events, in the order they happened. */
export async function digestEvents(db: Db, digestId: string): Promise<NoticedEvent[]> {
  const { rows } = await sql<{ event: NotifyEvent; subject: string; intent_id: string | null; at: Date }>`
    SELECT event, subject, intent_id, at FROM notify_events WHERE digest_id = ${digestId} ORDER BY at, id`.execute(db);
  return rows.map((r) => ({ event: r.event, subject: r.subject, intentId: r.intent_id, at: r.at }));
}

export async function markSent(db: Db, digestId: string): Promise<void> {
  await sql`UPDATE notify_digests SET sent_at = clock_timestamp() WHERE id = ${digestId} AND sent_at IS NULL`.execute(
    db,
  );
}

/** How long sent digests (and their events) are kept: their keys keep a re-read event from counting twice. */
export const KEEP_SENT_DAYS = 7;

/** Forgets digests sent more than KEEP_SENT_DAYS ago, with their events (ON DELETE CASCADE). */
export async function forgetOldDigests(db: Db): Promise<number> {
  const result = await sql`
    DELETE FROM notify_digests WHERE sent_at < clock_timestamp() - make_interval(days => ${KEEP_SENT_DAYS})`.execute(
    db,
  );
  return Number(result.numAffectedRows ?? 0);
}
