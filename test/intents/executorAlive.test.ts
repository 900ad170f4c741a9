import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { buildLiveReport, HEARTBEAT_STALE_SECONDS, executorAlive } from '@handoff/intents';
import { createTestDatabase } from '../support/database.ts';

describe('executor alive (one definition for /metrics and the live report)', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;

  before(async () => {
    testDb = await createTestDatabase();
  });
  after(async () => {
    await testDb.drop();
  });

  test('an executor is alive while its heartbeat is younger than HEARTBEAT_STALE_SECONDS, and the live report calls the rest stale', async () => {
    const { db } = testDb;
    const beat = (id: string, ageSeconds: number) => ({
      id,
      host: 'h',
      pid: 1,
      started_at: sql<Date>`clock_timestamp() - interval '1 hour'`,
      heartbeat_at: sql<Date>`clock_timestamp() - make_interval(secs => ${ageSeconds})`,
      status: 'running',
      channels: JSON.stringify([]),
      breakers: JSON.stringify([]),
      local_gate_enabled: true,
      in_flight: 0,
    });
    await db
      .insertInto('executors')
      .values([beat('fresh', HEARTBEAT_STALE_SECONDS - 5), beat('silent', HEARTBEAT_STALE_SECONDS + 5)])
      .execute();

    const alive = await db.selectFrom('executors').select('id').where(executorAlive()).execute();
    assert.deepEqual(
      alive.map((e) => e.id),
      ['fresh'],
    );

    const report = await buildLiveReport(db);
    assert.deepEqual(
      report.executors.map((e) => [e.id, e.stale]),
      [
        ['fresh', false],
        ['silent', true],
      ],
    );
  });
});
