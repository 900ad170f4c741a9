import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { claimLease, recordAttempt, scheduleRetry } from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

async function ticketsFor(id: string): Promise<{ start_after: Date }[]> {
  const result = await sql<{
    start_after: Date;
  }>`SELECT start_after FROM pgboss.job WHERE data->>'intentId' = ${id} ORDER BY created_on`.execute(t.h.tdb.db);
  return result.rows;
}

describe('scheduleRetry', () => {
  test('a retryable failure waits in retry_wait until runAfter, counts the failure, closes the attempt and tickets that moment', async () => {
    const intent = await t.newIntent();
    const lease = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'E',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.ok(lease);
    assert.ok(await recordAttempt(t.h.tdb.db, { intentId: intent.id, epoch: lease.epoch, executorId: 'E' }));
    const runAfter = new Date(Date.now() + 60_000);
    const fence = { intentId: intent.id, epoch: lease.epoch, executorId: 'E', channel: 'scripted' };
    assert.equal(
      await scheduleRetry(t.h.tdb.db, t.h.boss, fence, { runAfter, errorClass: 'retryable', message: 'upstream 503' }),
      true,
    );

    const detail = await t.h.service.get(intent.id);
    assert.equal(detail?.state, 'retry_wait');
    assert.equal(detail?.runAfter, runAfter.toISOString());
    assert.equal(detail?.leaseOwner, null);
    assert.equal(detail?.lastError, 'upstream 503');
    assert.deepEqual(
      detail?.attempts.map((a) => [a.outcome, a.errorClass, a.errorMessage]),
      [['retryable', 'retryable', 'upstream 503']],
    );
    assert.deepEqual(detail?.receipts, [], 'a retry is not an ending: no receipt');
    const row = await t.h.tdb.db
      .selectFrom('intents')
      .select('failed_attempts')
      .where('id', '=', intent.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.failed_attempts, 1);
    const tickets = await ticketsFor(intent.id);
    assert.ok(
      tickets.some((j) => Math.abs(new Date(j.start_after).getTime() - runAfter.getTime()) < 1000),
      'a ticket for runAfter',
    );
  });

  test('a stale holder schedules nothing: the intent, its attempts and its tickets stay as they are', async () => {
    const intent = await t.newIntent();
    const a = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'A',
      ttlSeconds: 1,
      heldKeys: ['scripted:*'],
    });
    assert.ok(a);
    await t.expireLease(intent.id);
    const b = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'B',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.ok(b);
    const ticketsBefore = (await ticketsFor(intent.id)).length;
    const fenceA = { intentId: intent.id, epoch: a.epoch, executorId: 'A', channel: 'scripted' };
    assert.equal(
      await scheduleRetry(t.h.tdb.db, t.h.boss, fenceA, {
        runAfter: new Date(),
        errorClass: 'retryable',
        message: 'late',
      }),
      false,
    );
    const detail = await t.h.service.get(intent.id);
    assert.equal(detail?.state, 'running');
    assert.equal(detail?.leaseOwner, 'B');
    assert.equal(detail?.lastError, null);
    assert.equal((await ticketsFor(intent.id)).length, ticketsBefore);
  });
});
