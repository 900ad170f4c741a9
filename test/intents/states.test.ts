import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { IntentState } from '@handoff/contracts';
import { NEEDS_PERSON_STATES, QUEUED_STATES, transitions } from '@handoff/intents';
import { createTestDatabase } from '../support/database.ts';

/** The quoted values of a CHECK constraint as Postgres prints it: `CHECK ((x = ANY (ARRAY['a'::text, ...])))`. */
async function checkValues(
  db: Awaited<ReturnType<typeof createTestDatabase>>['db'],
  constraint: string,
): Promise<string[]> {
  const row = await sql<{ def: string }>`
    SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = ${constraint}`.execute(db);
  assert.equal(row.rows.length, 1, `constraint ${constraint} exists`);
  return [...row.rows[0]!.def.matchAll(/'([^']*)'::text/g)].map((m) => m[1]!).sort();
}

describe('one list of intent states', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;

  before(async () => {
    testDb = await createTestDatabase();
  });
  after(async () => {
    await testDb.drop();
  });

  test("the migrated schema's CHECK on intents.state admits exactly the contract's states", async () => {
    assert.deepEqual(await checkValues(testDb.db, 'intents_state_valid'), [...IntentState.options].sort());
  });

  test('every state is queued, waiting for a person, or left by no transition: a new state must be placed', () => {
    const left = new Set(Object.values(transitions).flatMap((t) => t.from as readonly string[]));
    for (const state of IntentState.options) {
      const homes = [
        (QUEUED_STATES as readonly string[]).includes(state) && 'queued',
        (NEEDS_PERSON_STATES as readonly string[]).includes(state) && 'needs a person',
        !left.has(state) && 'finished',
      ].filter(Boolean);
      assert.equal(homes.length, 1, `${state} is ${homes.join(' and ') || 'in no set'}`);
    }
  });
});
