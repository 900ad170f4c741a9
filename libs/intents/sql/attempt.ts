import { sql } from 'kysely';
import type { AttemptOutcome } from '@handoff/contracts';
import { LOCK_GATES, type Db } from '@handoff/db';
import { takeOrQueue } from '@handoff/ratelimit';

/*
 * The write-ahead attempt row, made before the connector is called, and the closing of an attempt
 * a takeover found open. Every attempt is written by insertAttempts, one statement for one intent or
 * many, fenced by each row's own epoch.
 */

export interface RecordedAttempt {
  attemptNo: number;
  startedAt: Date;
}

/** No rate-limit token: come back after `retryAfterMs` (a place in line); nothing was written. */
export interface RateLimited {
  rateLimitedMs: number;
}

export interface AttemptRequest {
  intentId: string;
  epoch: number;
  rateKey: string;
}

class RefusedAfterToken extends Error {}

/**
 * One intent's write-ahead record. Refused (null) when the epoch is no longer ours or a gate closed
 * since the claim. The shared gate lock orders this against gate changes: see LOCK_GATES. With
 * `rateKey`, the rate-limit token is taken in the same transaction, so the token is spent as close to
 * the call as possible (the limit holds at the provider, not only in the bucket), and given back if
 * the attempt is refused.
 */
export async function recordAttempt(
  db: Db,
  args: { intentId: string; epoch: number; executorId: string; rateKey?: string },
): Promise<RecordedAttempt | RateLimited | null> {
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock_shared(${LOCK_GATES})`.execute(trx);
      if (args.rateKey) {
        const token = await takeOrQueue(trx, args.rateKey);
        if (!token.ok) return { rateLimitedMs: token.retryAfterMs };
      }
      const recorded = await insertAttempts(trx, args.executorId, [
        { intentId: args.intentId, epoch: args.epoch, tokenKey: args.rateKey ?? null },
      ]);
      const attempt = recorded.get(args.intentId) ?? null;
      // roll back, returning the token: the attempt was refused
      if (!attempt && args.rateKey) throw new RefusedAfterToken();
      return attempt;
    });
  } catch (err) {
    if (err instanceof RefusedAfterToken) return null;
    throw err;
  }
}

/**
 * The write-ahead records of a batch in one transaction and one INSERT, for the intents whose
 * rate key has no bucket (unlimited by policy). Intents whose key is limited are returned in
 * `limited`, untouched: they take their token one by one through `recordAttempt`, where a refused
 * attempt gives its token back. The map holds the attempts written; an intent in neither was
 * refused (epoch moved on, or a gate closed since the claim).
 */
export async function recordAttempts(
  db: Db,
  executorId: string,
  requests: AttemptRequest[],
): Promise<{ recorded: Map<string, RecordedAttempt>; limited: AttemptRequest[] }> {
  if (requests.length === 0) return { recorded: new Map(), limited: [] };
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock_shared(${LOCK_GATES})`.execute(trx);
    const keys = [...new Set(requests.map((r) => r.rateKey))];
    const bucketed = await sql<{ key: string }>`SELECT key FROM rate_buckets WHERE key = ANY(${keys}::text[])`.execute(
      trx,
    );
    const limitedKeys = new Set(bucketed.rows.map((r) => r.key));
    const limited = requests.filter((r) => limitedKeys.has(r.rateKey));
    const free = requests
      .filter((r) => !limitedKeys.has(r.rateKey))
      .map((r) => ({ intentId: r.intentId, epoch: r.epoch, tokenKey: null }));
    return { recorded: await insertAttempts(trx, executorId, free), limited };
  });
}

/**
 * The one INSERT of attempt rows, each conditional on its epoch still holding a leased intent that
 * no closed gate covers. An attempt for which a rate-limit token was taken (`tokenKey`) starts when
 * the token was spent: the bucket's refilled_at, which this transaction wrote and still locks. The
 * limit is exact at that moment, so the attempt rows show it exactly, however long this process took
 * between the two statements. Any other attempt starts now (decision 59). The statement is
 * `handoff_insert_attempts` (migrations/005_node_roles.sql), callable by a node's role.
 */
async function insertAttempts(
  trx: Db,
  executorId: string,
  rows: { intentId: string; epoch: number; tokenKey: string | null }[],
): Promise<Map<string, RecordedAttempt>> {
  const recorded = new Map<string, RecordedAttempt>();
  if (rows.length === 0) return recorded;
  const result = await sql<{ intent_id: string; attempt_no: number; started_at: Date }>`
    SELECT intent_id, attempt_no, started_at FROM handoff_insert_attempts(${executorId}::text,
      ${rows.map((r) => r.intentId)}::uuid[], ${rows.map((r) => r.epoch)}::int[], ${rows.map((r) => r.tokenKey)}::text[])`.execute(
    trx,
  );
  for (const row of result.rows) recorded.set(row.intent_id, { attemptNo: row.attempt_no, startedAt: row.started_at });
  return recorded;
}

/**
 * After a takeover's reconcile said "not done": closes the earlier holder's attempt, conditional
 * on our epoch still holding the intent, so the next attempt starts from a clean record
 * (`handoff_close_abandoned_attempt`, migrations/005_node_roles.sql).
 */
export async function closeAbandonedAttempt(
  db: Db,
  fence: { intentId: string; epoch: number },
  abandonedEpoch: number,
  outcome: AttemptOutcome,
): Promise<boolean> {
  const result = await sql<{ closed: boolean }>`
    SELECT handoff_close_abandoned_attempt(${fence.intentId}::uuid, ${fence.epoch}::int, ${abandonedEpoch}::int,
      ${outcome}::text) AS closed`.execute(db);
  return result.rows[0]?.closed === true;
}
