import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { IntentState } from '@handoff/contracts';
import { fromStates, IntentNotFound, InvalidTransition, transitions } from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

describe("the operator's transitions (approve, reject, retry, resolve)", () => {
  const states = IntentState.options;
  const operations = {
    approve: (id: string) => t.h.service.approve(id, 'op'),
    reject: (id: string) => t.h.service.reject(id, 'op', 'no'),
    operatorRetry: (id: string) => t.h.service.retry(id, 'op'),
    operatorResolve: (id: string) => t.h.service.resolve(id, 'op', { externalId: 'x' }),
  } as const;

  for (const [name, run] of Object.entries(operations)) {
    test(`operator "${name}" is allowed from exactly ${fromStates(name as keyof typeof operations).join(', ')}`, async () => {
      for (const from of states) {
        const intent = await t.newIntent({ channel: 'noop' });
        await t.h.tdb.db.updateTable('intents').set({ state: from }).where('id', '=', intent.id).execute();
        const allowed = fromStates(name as keyof typeof operations).includes(from);
        if (allowed) {
          const result = await run(intent.id);
          assert.equal(result.state, transitions[name as keyof typeof operations].to, `${name} from ${from}`);
        } else {
          await assert.rejects(
            run(intent.id),
            (err: { code?: string }) => err.code === 'invalid_state',
            `${name} from ${from} must be refused`,
          );
          assert.equal(await t.stateOf(intent.id), from);
        }
      }
    });
  }

  test('a refused transition is an InvalidTransition naming the state and the states it is allowed from', async () => {
    const intent = await t.newIntent({ channel: 'noop' });
    await assert.rejects(t.h.service.resolve(intent.id, 'op', { externalId: 'x' }), (err: unknown) => {
      assert.ok(err instanceof InvalidTransition);
      assert.equal(err.message, `cannot resolve intent ${intent.id}: it is approved`);
      assert.deepEqual(err.details, { state: 'approved', allowedFrom: ['in_doubt'] });
      return true;
    });
  });

  test('a decision on an intent that does not exist is an IntentNotFound', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    for (const decide of [
      () => t.h.service.approve(id, 'op'),
      () => t.h.service.retry(id, 'op'),
      () => t.h.service.reject(id, 'op', 'no'),
    ]) {
      await assert.rejects(
        decide(),
        (err: unknown) =>
          err instanceof IntentNotFound && err.code === 'not_found' && err.message === `no intent with id ${id}`,
      );
    }
  });

  test("an operator's retry is an approval of the payload with a fresh attempt budget, due now", async () => {
    const intent = await t.newIntent({ channel: 'noop' });
    await t.h.tdb.db
      .updateTable('intents')
      .set({ state: 'dead', failed_attempts: 3, run_after: new Date(Date.now() + 3_600_000) })
      .where('id', '=', intent.id)
      .execute();
    const retried = await t.h.service.retry(intent.id, 'op');
    assert.equal(retried.state, 'approved');
    assert.equal(retried.runAfter, null);
    assert.equal(retried.approvedBy, 'op');
    const row = await t.h.tdb.db
      .selectFrom('intents')
      .selectAll()
      .where('id', '=', intent.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.failed_attempts, 0);
    assert.equal(row.approved_payload_hash, row.payload_hash);
    const detail = await t.h.service.get(intent.id);
    assert.deepEqual(
      detail?.approvals.map((a) => [a.decision, a.reason]),
      [['approve', 'retry']],
    );
  });
});
