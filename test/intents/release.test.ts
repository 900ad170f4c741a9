import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { claimLease, recordAttempt, releaseLease } from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

async function ticketsFor(id: string): Promise<{ start_after: Date; priority: number }[]> {
  const result = await sql<{ start_after: Date; priority: number }>`
    SELECT start_after, priority FROM pgboss.job WHERE data->>'intentId' = ${id} ORDER BY created_on`.execute(
    t.h.tdb.db,
  );
  return result.rows;
}

describe('releaseLease', () => {
  test('a released lease burns no attempt: the intent is approved again, with its reason and a ticket for runAfter', async () => {
    const intent = await t.newIntent();
    const lease = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'E',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.ok(lease);
    const runAfter = new Date(Date.now() + 30_000);
    const fence = { intentId: intent.id, epoch: lease.epoch, executorId: 'E', channel: 'scripted' };
    assert.equal(
      await releaseLease(t.h.tdb.db, t.h.boss, fence, { runAfter, reason: 'breaker open', inLineForToken: true }),
      true,
    );

    const row = await t.h.tdb.db
      .selectFrom('intents')
      .selectAll()
      .where('id', '=', intent.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.state, 'approved');
    assert.equal(row.state_reason, 'breaker open');
    assert.equal(row.lease_owner, null);
    assert.equal(row.failed_attempts, 0);
    assert.equal(row.attempt_count, 0);
    assert.equal(new Date(row.run_after!).getTime(), runAfter.getTime());
    const ticket = (await ticketsFor(intent.id)).find(
      (j) => Math.abs(new Date(j.start_after).getTime() - runAfter.getTime()) < 1000,
    );
    assert.ok(ticket, 'a ticket for runAfter');
    assert.ok(ticket.priority > 0, 'an intent in line for a token is fetched ahead of the backlog');
  });

  test("a release closes only this epoch's open attempt, leaving an earlier holder's for reconcile", async () => {
    const intent = await t.newIntent();
    const a = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'A',
      ttlSeconds: 1,
      heldKeys: ['scripted:*'],
    });
    assert.ok(a);
    assert.ok(await recordAttempt(t.h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
    await t.expireLease(intent.id);
    const b = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'B',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.ok(b);
    assert.ok(await recordAttempt(t.h.tdb.db, { intentId: intent.id, epoch: b.epoch, executorId: 'B' }));
    const fenceB = { intentId: intent.id, epoch: b.epoch, executorId: 'B', channel: 'scripted' };
    assert.equal(
      await releaseLease(t.h.tdb.db, t.h.boss, fenceB, {
        runAfter: null,
        reason: 'shutdown',
        attemptOutcome: 'retryable',
      }),
      true,
    );
    const detail = await t.h.service.get(intent.id);
    assert.deepEqual(
      detail?.attempts.map((x) => [x.leaseEpoch, x.outcome]),
      [
        [a.epoch, null],
        [b.epoch, 'retryable'],
      ],
    );
  });

  test('a stale holder releases nothing', async () => {
    const intent = await t.newIntent();
    const a = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'A',
      ttlSeconds: 1,
      heldKeys: ['scripted:*'],
    });
    assert.ok(a);
    await t.expireLease(intent.id);
    assert.ok(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'B', ttlSeconds: 30, heldKeys: ['scripted:*'] }),
    );
    const fenceA = { intentId: intent.id, epoch: a.epoch, executorId: 'A', channel: 'scripted' };
    assert.equal(await releaseLease(t.h.tdb.db, t.h.boss, fenceA, { runAfter: null, reason: 'late' }), false);
    assert.equal(await t.stateOf(intent.id), 'running');
  });
});
