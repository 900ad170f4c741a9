import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool } from '@handoff/db';
import { createTestDatabase } from '../support/database.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

async function waitFor(what: string, cond: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('pool', () => {
  test('an idle connection killed by the server is logged, not fatal', async () => {
    const tdb = await createTestDatabase({ migrate: false });
    cleanups.push(tdb.drop);
    const errors: Error[] = [];
    const pool = createPool(tdb.url, { max: 2, onError: (e) => errors.push(e) });
    const client = await pool.connect();
    const [row] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    client.release();
    await tdb.pool.query('SELECT pg_terminate_backend($1)', [row?.pid]);
    await waitFor('the pool to report the dead idle client', () => errors.length > 0);
    assert.deepEqual((await pool.query<{ one: number }>('SELECT 1 AS one')).rows, [{ one: 1 }]);
    await pool.end();
  });
});
