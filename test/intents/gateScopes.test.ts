import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { scopesCovering } from '@handoff/contracts';
import { noClosedGateCovers } from '@handoff/intents';
import { createTestDatabase } from '../support/database.ts';

const intents = [
  ['x', 'a'],
  ['x', 'b'],
  ['webhook', 'a'],
  ['xy', 'a'],
] as const;
const scopes = ['global', 'x', 'x:a', 'x:b', 'webhook', 'webhook:a', 'webhook:b', 'xy', 'y', 'a'];

describe('gate scopes (one scopesCovering for the SQL and the executor)', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;

  before(async () => {
    testDb = await createTestDatabase();
  });
  after(async () => {
    await testDb.drop();
  });

  test('a closed gate pauses, in the SQL that claims and sweeps, exactly the intents whose scopesCovering names it', async () => {
    const { db } = testDb;
    const rows = sql.join(intents.map(([c, a]) => sql`(${c}::text, ${a}::text)`));
    for (const scope of scopes) {
      await sql`DELETE FROM gates`.execute(db);
      await db.insertInto('gates').values({ scope, enabled: false, reason: null, updated_by: 'test' }).execute();
      const paused = await sql<{ channel: string; account: string }>`
        SELECT i.channel, i.account FROM (VALUES ${rows}) AS i(channel, account)
        WHERE NOT ${noClosedGateCovers('i')} ORDER BY 1, 2`.execute(db);
      const expected = intents
        .filter(([c, a]) => scopesCovering(c, a).includes(scope))
        .map(([channel, account]) => ({ channel, account }))
        .sort((p, q) => (p.channel + p.account < q.channel + q.account ? -1 : 1));
      assert.deepEqual(paused.rows, expected, `gate ${scope} closed`);
    }
  });

  test('an open gate pauses nothing', async () => {
    const { db } = testDb;
    await sql`DELETE FROM gates`.execute(db);
    await db.insertInto('gates').values({ scope: 'global', enabled: true, reason: null, updated_by: 'test' }).execute();
    const paused =
      await sql`SELECT 1 FROM (VALUES ('x', 'a')) AS i(channel, account) WHERE NOT ${noClosedGateCovers('i')}`.execute(
        db,
      );
    assert.equal(paused.rows.length, 0);
  });
});
