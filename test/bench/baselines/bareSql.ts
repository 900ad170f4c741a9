import pg from 'pg';
import { createTestDatabase } from '../../support/database.ts';

/**
 * The intent lifecycle as bare SQL from one client, on scratch tables in a fresh database: insert
 * the intent, claim it (state and lease epoch, fenced), insert the attempt, insert the receipt,
 * mark it succeeded (fenced by the epoch). No queue, no HTTP, no connector: the floor that the
 * statements alone cost on this server.
 */

const SCHEMA = `
  CREATE TABLE b_intents (
    id bigserial PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    channel text NOT NULL,
    payload jsonb NOT NULL,
    state text NOT NULL,
    lease_owner text,
    lease_epoch int NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX ON b_intents (state);
  CREATE TABLE b_attempts (
    id bigserial PRIMARY KEY,
    intent_id bigint NOT NULL REFERENCES b_intents (id),
    lease_epoch int NOT NULL,
    executor_id text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE b_receipts (
    id bigserial PRIMARY KEY,
    intent_id bigint NOT NULL REFERENCES b_intents (id),
    lease_epoch int NOT NULL,
    kind text NOT NULL,
    external_id text,
    created_at timestamptz NOT NULL DEFAULT now()
  );`;

// one intent at a time: five statements, five round trips
const INSERT_ONE = `INSERT INTO b_intents (idempotency_key, channel, payload, state) VALUES ($1, 'noop', $2, 'approved') RETURNING id`;
const CLAIM_ONE = `UPDATE b_intents SET state = 'leased', lease_owner = 'bench', lease_epoch = lease_epoch + 1,
  lease_expires_at = now() + interval '30 seconds', updated_at = now() WHERE id = $1 AND state = 'approved' RETURNING lease_epoch`;
const ATTEMPT_ONE = `INSERT INTO b_attempts (intent_id, lease_epoch, executor_id) VALUES ($1, $2, 'bench')`;
const RECEIPT_ONE = `INSERT INTO b_receipts (intent_id, lease_epoch, kind, external_id) VALUES ($1, $2, 'success', $3)`;
const SUCCEED_ONE = `UPDATE b_intents SET state = 'succeeded', lease_owner = NULL, updated_at = now()
  WHERE id = $1 AND lease_epoch = $2 AND lease_owner = 'bench'`;

// a batch at a time: the same five statements over arrays
const INSERT_MANY = `INSERT INTO b_intents (idempotency_key, channel, payload, state)
  SELECT k, 'noop', p, 'approved' FROM unnest($1::text[], $2::jsonb[]) AS t(k, p) RETURNING id`;
const CLAIM_MANY = `UPDATE b_intents SET state = 'leased', lease_owner = 'bench', lease_epoch = lease_epoch + 1,
  lease_expires_at = now() + interval '30 seconds', updated_at = now() WHERE id = ANY($1::bigint[]) AND state = 'approved'
  RETURNING id, lease_epoch`;
const ATTEMPT_MANY = `INSERT INTO b_attempts (intent_id, lease_epoch, executor_id)
  SELECT i, e, 'bench' FROM unnest($1::bigint[], $2::int[]) AS t(i, e)`;
const RECEIPT_MANY = `INSERT INTO b_receipts (intent_id, lease_epoch, kind, external_id)
  SELECT i, e, 'success', x FROM unnest($1::bigint[], $2::int[], $3::text[]) AS t(i, e, x)`;
const SUCCEED_MANY = `UPDATE b_intents AS b SET state = 'succeeded', lease_owner = NULL, updated_at = now()
  FROM unnest($1::bigint[], $2::int[]) AS t(i, e) WHERE b.id = t.i AND b.lease_epoch = t.e AND b.lease_owner = 'bench'`;

/** Intents per second through the five-statement lifecycle; `batch` intents per statement (1: unbatched). */
export async function bareSqlLifecycle(n: number, batch: number): Promise<number> {
  const tdb = await createTestDatabase({ migrate: false, max: 1 });
  const client = new pg.Client({ connectionString: tdb.url });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query(SCHEMA);
    const start = performance.now();
    if (batch <= 1) {
      for (let i = 0; i < n; i++) {
        const { rows } = await client.query<{ id: string }>(INSERT_ONE, [`k${i}`, JSON.stringify({ i })]);
        const id = rows[0]!.id;
        const claimed = await client.query<{ lease_epoch: number }>(CLAIM_ONE, [id]);
        const epoch = claimed.rows[0]!.lease_epoch;
        await client.query(ATTEMPT_ONE, [id, epoch]);
        await client.query(RECEIPT_ONE, [id, epoch, `noop:${i}`]);
        const done = await client.query(SUCCEED_ONE, [id, epoch]);
        if (done.rowCount !== 1) throw new Error(`bare SQL: intent ${id} was not marked succeeded`);
      }
    } else {
      for (let i = 0; i < n; i += batch) {
        const size = Math.min(batch, n - i);
        const keys = Array.from({ length: size }, (_, k) => `k${i + k}`);
        const payloads = Array.from({ length: size }, (_, k) => JSON.stringify({ i: i + k }));
        const { rows } = await client.query<{ id: string }>(INSERT_MANY, [keys, payloads]);
        const claimed = await client.query<{ id: string; lease_epoch: number }>(CLAIM_MANY, [rows.map((r) => r.id)]);
        const ids = claimed.rows.map((r) => r.id);
        const epochs = claimed.rows.map((r) => r.lease_epoch);
        await client.query(ATTEMPT_MANY, [ids, epochs]);
        await client.query(RECEIPT_MANY, [ids, epochs, ids.map((id) => `noop:${id}`)]);
        const done = await client.query(SUCCEED_MANY, [ids, epochs]);
        if (done.rowCount !== size) throw new Error(`bare SQL: ${done.rowCount} of ${size} intents marked succeeded`);
      }
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    await client.end().catch(() => {});
    await tdb.drop();
  }
}
