import { sql } from 'kysely';
import type { RateLimit, RateLimitHeadroom } from '@handoff/contracts';
import type { Db } from '@handoff/db';

/*
 * Central token buckets, one row per `channel:account` in `rate_buckets`. Every executor takes from
 * the same row, so a limit holds across any number of executors. Time is always the database's
 * `clock_timestamp()`: executors' clocks may disagree, the database's is the one truth, and
 * `now()` would freeze at the start of a surrounding transaction.
 *
 * A row stores `tokens` as of `refilled_at`; the headroom at any moment is
 * least(capacity, tokens + elapsed seconds * refill_per_second), computed in SQL when needed.
 */

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number };

// Tokens as of clock_timestamp(): stored tokens plus refill for the time elapsed, capped at capacity.
// greatest(0, …) guards against a refilled_at that is (by clock skew) slightly ahead.
const refilledTokens = sql<number>`least(capacity, tokens + greatest(0, extract(epoch FROM clock_timestamp() - refilled_at)::float8) * refill_per_second)`;

/**
 * Applies the policy's limits: new buckets start full; an existing bucket keeps its current tokens
 * (refilled to now at the old rate, then clamped to the new capacity); buckets for keys the policy
 * no longer lists are deleted, since the policy is the truth.
 */
export async function configureBuckets(db: Db, limits: Record<string, RateLimit>): Promise<void> {
  // A fixed order means two executors configuring at once lock rows in the same order: no deadlock.
  const entries = Object.entries(limits).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, limit] of entries) {
    // Taking costs one whole token; a bucket that can never hold one would block its key forever.
    if (!(limit.capacity >= 1))
      throw new RangeError(`rateLimits["${key}"].capacity must be at least 1 (got ${limit.capacity})`);
    if (!(limit.refillPerSecond > 0)) throw new RangeError(`rateLimits["${key}"].refillPerSecond must be positive`);
  }
  await db.transaction().execute(async (trx) => {
    if (entries.length > 0) {
      const rows = entries.map(
        ([key, l]) =>
          sql`(${key}::text, ${l.capacity}::float8, ${l.refillPerSecond}::float8, ${l.capacity}::float8, clock_timestamp())`,
      );
      // In ON CONFLICT ... SET, bare column names (b.*) are the existing row, `excluded` the new limit.
      await sql`
        INSERT INTO rate_buckets AS b (key, capacity, refill_per_second, tokens, refilled_at)
        VALUES ${sql.join(rows)}
        ON CONFLICT (key) DO UPDATE SET
          tokens = least(excluded.capacity,
                         b.capacity,
                         b.tokens + greatest(0, extract(epoch FROM clock_timestamp() - b.refilled_at)::float8) * b.refill_per_second),
          refilled_at = greatest(b.refilled_at, clock_timestamp()),
          capacity = excluded.capacity,
          refill_per_second = excluded.refill_per_second
      `.execute(trx);
    }
    const keys = entries.map(([key]) => key);
    await sql`DELETE FROM rate_buckets WHERE NOT (key = ANY(${keys}::text[]))`.execute(trx);
  });
}

/**
 * Takes one token for `key`, atomically. A key without a bucket is unlimited.
 *
 * The take is ONE UPDATE: Postgres locks the row, and a concurrent taker that waited on the lock
 * re-evaluates the WHERE clause against the row the winner wrote (READ COMMITTED re-check), so
 * no two takers can spend the same token, whatever the number of executors.
 */
export async function takeToken(db: Db, key: string): Promise<TakeResult> {
  const taken = await sql<{ tokens: number }>`
    UPDATE rate_buckets
    SET tokens = ${refilledTokens} - 1,
        refilled_at = greatest(refilled_at, clock_timestamp())
    WHERE key = ${key}
      AND (blocked_until IS NULL OR blocked_until <= clock_timestamp())
      AND ${refilledTokens} >= 1
    RETURNING tokens
  `.execute(db);
  const row = taken.rows[0];
  if (row) return { ok: true, remaining: Math.max(0, Math.floor(row.tokens)) };

  // No token (or no bucket). The moment the next token exists: the stored tokens reach 1 at
  // refilled_at + (1 - tokens) / refill seconds, and never before blocked_until.
  const wait = await sql<{ wait_ms: number }>`
    SELECT extract(epoch FROM greatest(
             coalesce(blocked_until, '-infinity'::timestamptz),
             refilled_at + make_interval(secs => greatest(0, 1 - tokens) / refill_per_second)
           ) - clock_timestamp())::float8 * 1000 AS wait_ms
    FROM rate_buckets
    WHERE key = ${key}
  `.execute(db);
  const waitRow = wait.rows[0];
  if (!waitRow) return { ok: true, remaining: Infinity };
  // A token may have appeared between the two statements: still say "later", but only just.
  return { ok: false, retryAfterMs: Math.max(1, Math.ceil(waitRow.wait_ms)) };
}

export type QueueResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number };

/**
 * Takes a token now, or gives the caller its own place in line. Without places, every caller
 * denied a token would be told the same moment (when the next token exists) and come back together
 * to fight for one token: a thundering herd that grows with the backlog. Here each denied caller
 * gets the next free slot, one refill interval after the previous one, so waiters return spread
 * out, each about when a token will be there for it. The token itself is still taken at call time
 * (`takeToken`), which is what keeps the limit exact however late a waiter comes back.
 */
export async function takeOrQueue(db: Db, key: string): Promise<QueueResult> {
  const taken = await takeToken(db, key);
  if (taken.ok) return taken;
  const slot = await sql<{ wait_ms: number }>`
    WITH line AS (
      SELECT key, greatest(
               coalesce(next_slot_at, '-infinity'::timestamptz),
               coalesce(blocked_until, '-infinity'::timestamptz),
               refilled_at + make_interval(secs => greatest(0, 1 - tokens) / refill_per_second),
               clock_timestamp()) AS at,
             refill_per_second
      FROM rate_buckets WHERE key = ${key} FOR UPDATE)
    UPDATE rate_buckets b SET next_slot_at = line.at + make_interval(secs => 1 / line.refill_per_second)
    FROM line WHERE b.key = line.key
    RETURNING extract(epoch FROM line.at - clock_timestamp())::float8 * 1000 AS wait_ms`.execute(db);
  const row = slot.rows[0];
  // the bucket vanished between the two statements (policy reload): come back at the first answer
  return { ok: false, retryAfterMs: Math.max(1, Math.ceil(row ? row.wait_ms : taken.retryAfterMs)) };
}

/**
 * A provider answered 429 with Retry-After: empty the bucket and block it until `until` (or a
 * later block already in place). Tokens refill again from now. Returns false when the key has no
 * bucket (unlimited by policy), in which case only the intent itself waits.
 */
export async function drainUntil(db: Db, key: string, until: Date): Promise<boolean> {
  const result = await sql`
    UPDATE rate_buckets
    SET tokens = 0,
        refilled_at = greatest(refilled_at, clock_timestamp()),
        blocked_until = greatest(blocked_until, ${until}::timestamptz)
    WHERE key = ${key}
  `.execute(db);
  return (result.numAffectedRows ?? 0n) > 0n;
}

/**
 * Headroom of every bucket for the live report: tokens takeable now (refilled to now; 0 while a
 * 429 block lasts), and the block's end while it is in the future.
 */
export async function readBuckets(db: Db): Promise<RateLimitHeadroom[]> {
  const result = await sql<{
    key: string;
    capacity: number;
    refill_per_second: number;
    tokens: number;
    blocked_until: Date | null;
  }>`
    SELECT key, capacity, refill_per_second,
           CASE WHEN blocked_until > clock_timestamp() THEN 0 ELSE ${refilledTokens} END AS tokens,
           CASE WHEN blocked_until > clock_timestamp() THEN blocked_until END AS blocked_until
    FROM rate_buckets
    ORDER BY key
  `.execute(db);
  return result.rows.map((r) => ({
    key: r.key,
    capacity: r.capacity,
    refillPerSecond: r.refill_per_second,
    tokens: r.tokens,
    blockedUntil: r.blocked_until ? new Date(r.blocked_until).toISOString() : null,
  }));
}
