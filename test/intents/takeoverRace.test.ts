import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { processTicket } from '@handoff/executor';
import { claimLease } from '@handoff/intents';
import { waitFor } from '../support/stack.ts';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

/**
 * The interleaving behind a double delivery seen under load (decision 139): A's lease expired while
 * A was still writing its attempt; B's takeover claim reached the intent's row while A's attempt
 * transaction held it, waited, and went on once A committed. The takeover must then see A's attempt
 * as open and reconcile it, never call the connector blind. The interleaving is forced, not hoped
 * for: A's attempt is an open transaction on a connection of its own, and it commits only once
 * Postgres shows B's claim waiting on it.
 */
async function withAttemptInFlight<T>(
  intentId: string,
  epoch: number,
  takeover: () => Promise<T>,
): Promise<{ result: T; attemptNo: number }> {
  const a = new pg.Client({ connectionString: t.h.tdb.url, application_name: 'executor-A-attempt' });
  await a.connect();
  try {
    await a.query('BEGIN');
    // the statement recordAttempt runs (sql/attempt.ts insertAttempts): fenced on A's epoch, which still holds
    const written = await a.query<{ attempt_no: number }>(
      `SELECT attempt_no FROM handoff_insert_attempts('A', ARRAY[$1]::uuid[], ARRAY[$2]::int[], ARRAY[NULL]::text[])`,
      [intentId, epoch],
    );
    assert.equal(written.rows.length, 1, "A's attempt was accepted under its epoch");
    const aPid = (await a.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const running = takeover();
    running.catch(() => {});
    await waitFor("B's claim to wait on A's attempt transaction", async () => {
      const blocked = await a.query('SELECT pid FROM pg_stat_activity WHERE $1::int = ANY(pg_blocking_pids(pid))', [
        aPid,
      ]);
      return blocked.rows.length > 0;
    });
    await a.query('COMMIT');
    return { result: await running, attemptNo: written.rows[0]!.attempt_no };
  } finally {
    await a.end().catch(() => {});
  }
}

async function expiredLeaseOfA(channel?: string): Promise<{ id: string; epoch: number }> {
  const intent = await t.newIntent(channel ? { channel } : {});
  const a = await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['scripted:*'] });
  assert.ok(a);
  // A stalled (a loaded machine, a long GC) past its TTL before its attempt was written
  await t.expireLease(intent.id);
  return { id: intent.id, epoch: a.epoch };
}

describe('a takeover racing the attempt of the holder it replaces', () => {
  test('a claim that waited for an attempt being written reports that attempt as open', async () => {
    const { id, epoch } = await expiredLeaseOfA();
    const { result: b, attemptNo } = await withAttemptInFlight(id, epoch, () =>
      claimLease(t.h.tdb.db, { intentId: id, owner: 'B', ttlSeconds: 30, heldKeys: ['scripted:*'] }),
    );
    assert.ok(b, 'the expired lease is taken over');
    assert.equal(b.epoch, epoch + 1);
    assert.deepEqual(
      b.openAttempt && { attemptNo: b.openAttempt.attempt_no, epoch: b.openAttempt.lease_epoch },
      { attemptNo, epoch },
      "the takeover sees A's attempt, committed while its claim waited",
    );
  });

  test('a takeover that raced the attempt reconciles it and never calls the connector a second time', async () => {
    const { id, epoch } = await expiredLeaseOfA();
    t.scripted.reconcile = () => Promise.resolve({ status: 'unknown', reason: 'provider cannot say' });
    const before = t.scripted.executeCalls;
    const { result: outcome } = await withAttemptInFlight(id, epoch, () => processTicket(t.h.executor('B'), id));
    assert.equal(outcome, 'in_doubt');
    assert.equal(t.scripted.executeCalls - before, 0, "B made no call: A's may have reached the provider");
    const detail = await t.h.service.get(id);
    assert.equal(detail?.attempts.length, 1, 'no second attempt');
    assert.equal(detail?.state, 'in_doubt');
  });
});
