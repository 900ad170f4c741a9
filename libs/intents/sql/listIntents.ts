import { sql } from 'kysely';
import {
  LIST_TEXT_MAX_CHARS,
  PAYLOAD_EXCERPT_CHARS,
  idPrefixRange,
  pageUnderByteCap,
  type IntentList,
  type IntentSummary,
  type ListIntentsQuery,
} from '@handoff/contracts';
import type { Db } from '@handoff/db';
import { toIntent, type IntentRow } from './rows.ts';

/** Every column but the payload: a list never reads one whole (it may be up to the 1 MiB body limit). */
const COLUMNS = [
  'id',
  'idempotency_key',
  'channel',
  'account',
  'payload_hash',
  'state',
  'requires_approval',
  'created_by',
  'created_at',
  'updated_at',
  'not_before',
  'run_after',
  'approved_by',
  'approved_at',
  'approved_payload_hash',
  'approval_expires_at',
  'attempt_count',
  'failed_attempts',
  'max_attempts',
  'lease_owner',
  'lease_epoch',
  'lease_expires_at',
  'swept_at',
] as const;

/**
 * One page of intents, newest first by (created_at, id) (the index intents_created_id serves it),
 * starting after `query.cursor`. Each row carries an excerpt of its payload instead of the payload,
 * and free text cut to LIST_TEXT_MAX_CHARS; the page holds at most `query.limit` rows and stops
 * before its JSON passes LIST_ANSWER_MAX_BYTES. `nextCursor` is set whenever rows remain.
 */
export async function listIntents(db: Db, query: ListIntentsQuery): Promise<IntentList> {
  let q = db
    .selectFrom('intents')
    .select(COLUMNS)
    .select([
      sql<string>`left(payload::text, ${PAYLOAD_EXCERPT_CHARS})`.as('payload_excerpt'),
      sql<number>`octet_length(payload::text)`.as('payload_bytes'),
      sql<string | null>`left(last_error, ${LIST_TEXT_MAX_CHARS})`.as('last_error'),
      sql<string | null>`left(state_reason, ${LIST_TEXT_MAX_CHARS})`.as('state_reason'),
      // the cursor needs created_at to the microsecond; a JS Date keeps milliseconds
      sql<string>`to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('created_key'),
    ])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(query.limit + 1);
  if (query.state) q = q.where('state', '=', query.state);
  if (query.channel) q = q.where('channel', '=', query.channel);
  if (query.account) q = q.where('account', '=', query.account);
  // the unique index on idempotency_key finds the one intent a key names (GET /v1/intents/by-key too)
  if (query.idempotencyKey) q = q.where('idempotency_key', '=', query.idempotencyKey);
  if (query.idPrefix) {
    const [lowest, highest] = idPrefixRange(query.idPrefix);
    q = q.where('id', '>=', lowest).where('id', '<=', highest);
  }
  if (query.cursor) {
    const { createdAt, id } = query.cursor;
    q = q.where(sql<boolean>`(created_at, id) < (${createdAt}::timestamptz, ${id}::uuid)`);
  }
  const rows = await q.execute();

  const toSummary = (row: (typeof rows)[number]): IntentSummary => {
    const { payload_excerpt, payload_bytes, created_key: _key, ...columns } = row;
    const { payload: _payload, ...intent } = toIntent({ ...columns, payload: {} } as IntentRow);
    return { ...intent, payloadExcerpt: payload_excerpt, payloadBytes: Number(payload_bytes) };
  };
  const page = pageUnderByteCap(rows, query.limit, toSummary, (row) => ({ createdAt: row.created_key, id: row.id }));
  return { intents: page.items, nextCursor: page.nextCursor };
}
