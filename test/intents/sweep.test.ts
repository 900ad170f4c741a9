import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { claimLease, sweep } from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();
const OPTIONS = { eligibleGraceSeconds: 5, reissueSeconds: 5, pendingTtlSeconds: 3600, batch: 100 };

describe('the sweeper', () => {
  test('an approval that lapsed before the first lease expires the intent', async () => {
    const intent = await t.newIntent({ channel: 'webhook', payload: { url: 'http://127.0.0.1:1/y', body: {} } });
    await t.h.service.approve(intent.id, 'op');
    await t.h.tdb.db
      .updateTable('intents')
      .set({ approval_expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', intent.id)
      .execute();
    assert.equal(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['webhook:*'] }),
      null,
    );
    await sweep(t.h.tdb.db, t.h.boss, OPTIONS);
    assert.equal(await t.stateOf(intent.id), 'expired');
  });

  test('the sweeper re-tickets a lease that expired while running', async () => {
    const intent = await t.newIntent();
    assert.ok(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['scripted:*'] }),
    );
    await t.expireLease(intent.id);
    const result = await sweep(t.h.tdb.db, t.h.boss, OPTIONS);
    assert.ok(result && result.reticketed >= 1);
    const tickets = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'intentId' = ${intent.id}`.execute(t.h.tdb.db);
    assert.ok((tickets.rows[0]?.n ?? 0) >= 2, 'a new ticket exists beside the original');
    await sleep(0);
  });
});
