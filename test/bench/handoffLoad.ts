import { sql } from 'kysely';
import { Pool } from 'undici';
import type { Db } from '@handoff/db';
import { runConcurrently, sleep } from './stats.ts';

/** POSTs one create; resolves with the HTTP status. */
export type CreateCall = (body: {
  channel: string;
  idempotencyKey: string;
  payload: Record<string, unknown>;
}) => Promise<number>;

/**
 * Creates over HTTP to a coordinator at `baseUrl` with `token`, through an undici connection pool
 * (keep-alive, about a third of fetch's CPU per request): the load generator shares the 2 cores
 * with what it measures, so it should cost as little as it can.
 */
export function createOverHttp(baseUrl: string, token: string): { create: CreateCall; close(): Promise<void> } {
  const pool = new Pool(baseUrl, { connections: 64, pipelining: 1 });
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  return {
    create: async (body) => {
      const res = await pool.request({ method: 'POST', path: '/v1/intents', headers, body: JSON.stringify(body) });
      await res.body.dump();
      return res.statusCode;
    },
    close: () => pool.close(),
  };
}

/** n noop intents through `POST /v1/intents`, `concurrency` requests in flight; throws on any non-2xx. */
export async function createNoopIntents(
  create: CreateCall,
  n: number,
  concurrency: number,
  prefix: string,
): Promise<void> {
  await runConcurrently(n, concurrency, async (i) => {
    const status = await create({ channel: 'noop', idempotencyKey: `${prefix}-${i}`, payload: { i } });
    if (status !== 200 && status !== 201) throw new Error(`create ${prefix}-${i} answered ${status}`);
  });
}

export async function countByState(db: Db): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('intents')
    .select(['state', (eb) => eb.fn.countAll<string>().as('n')])
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/** Polls until `n` intents have succeeded; fails early if any ended otherwise. */
export async function waitForSucceeded(db: Db, n: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await countByState(db);
    if ((states.succeeded ?? 0) >= n) return;
    const bad = (states.dead ?? 0) + (states.in_doubt ?? 0) + (states.rejected ?? 0) + (states.expired ?? 0);
    if (bad > 0) throw new Error(`intents ended badly: ${JSON.stringify(states)}`);
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${n} succeeded intents: ${JSON.stringify(states)}`);
    await sleep(100);
  }
}

/**
 * The database's clock at the first attempt and at the last success receipt: the window in which
 * the executors worked, independent of how often the bench polls.
 */
export async function workWindow(db: Db): Promise<{ firstAttemptAt: Date; lastReceiptAt: Date }> {
  const { rows } = await sql<{ first: Date; last: Date }>`
    SELECT (SELECT min(started_at) FROM attempts) AS first,
           (SELECT max(created_at) FROM receipts WHERE kind = 'success') AS last`.execute(db);
  const row = rows[0];
  if (!row?.first || !row.last) throw new Error('no attempts or receipts recorded');
  return { firstAttemptAt: new Date(row.first), lastReceiptAt: new Date(row.last) };
}
