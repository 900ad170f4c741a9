import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { appendSuccessReceipt, appendSuccessReceipts, claimLeases, recordAttempts } from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

describe('receipts', () => {
  test('at most one success receipt per intent, even written directly', async () => {
    const intent = await t.newIntent();
    const row = {
      intent_id: intent.id,
      attempt_no: 1,
      lease_epoch: 1,
      kind: 'success' as const,
      external_id: 'a',
      url: null,
      error_class: null,
      error_message: null,
      executor_id: 'x',
      source: 'execute' as const,
    };
    await t.h.tdb.db.insertInto('receipts').values(row).execute();
    await assert.rejects(
      t.h.tdb.db
        .insertInto('receipts')
        .values({ ...row, external_id: 'b' })
        .execute(),
      /receipts_one_success/,
    );
  });

  test('receipts cannot be updated, deleted or truncated', async () => {
    const intent = await t.newIntent();
    await t.h.tdb.db
      .insertInto('receipts')
      .values({
        intent_id: intent.id,
        attempt_no: 1,
        lease_epoch: 1,
        kind: 'failure',
        external_id: null,
        url: null,
        error_class: 'permanent',
        error_message: 'x',
        executor_id: 'x',
        source: 'execute',
      })
      .execute();
    await assert.rejects(
      t.h.tdb.db.updateTable('receipts').set({ error_message: 'changed' }).where('intent_id', '=', intent.id).execute(),
      /append-only/,
    );
    await assert.rejects(t.h.tdb.db.deleteFrom('receipts').where('intent_id', '=', intent.id).execute(), /append-only/);
    await assert.rejects(sql`TRUNCATE receipts CASCADE`.execute(t.h.tdb.db), /append-only/);
  });

  test('a success writes the same row alone or in a batch: an executed one gives no reason, a reconciled one says so', async () => {
    const [alone, batched, reconciledAlone, reconciledBatched] = [
      await t.newIntent(),
      await t.newIntent(),
      await t.newIntent(),
      await t.newIntent(),
    ];
    const all = [alone, batched, reconciledAlone, reconciledBatched];
    const leases = await claimLeases(t.h.tdb.db, {
      intentIds: all.map((i) => i.id),
      owner: 'E',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    const fence = (id: string) => ({
      intentId: id,
      epoch: leases.find((l) => l.intent.id === id)!.epoch,
      executorId: 'E',
    });
    const { recorded } = await recordAttempts(
      t.h.tdb.db,
      'E',
      all.map((i) => ({ ...fence(i.id), rateKey: `scripted:${i.account}` })),
    );
    const attemptNo = (id: string) => recorded.get(id)!.attemptNo;

    assert.equal(
      await appendSuccessReceipt(t.h.tdb.db, fence(alone.id), {
        attemptNo: attemptNo(alone.id),
        externalId: 'a',
        url: null,
        source: 'execute',
        outcome: 'succeeded',
      }),
      true,
    );
    assert.equal(
      await appendSuccessReceipt(t.h.tdb.db, fence(reconciledAlone.id), {
        attemptNo: null,
        externalId: 'r',
        url: null,
        source: 'reconcile',
        outcome: 'reconciled_done',
      }),
      true,
    );
    const written = await appendSuccessReceipts(t.h.tdb.db, [
      { fence: fence(batched.id), attemptNo: attemptNo(batched.id), externalId: 'b', url: 'https://example.test/b' },
      {
        fence: fence(reconciledBatched.id),
        attemptNo: null,
        externalId: 'rb',
        url: null,
        source: 'reconcile',
        outcome: 'reconciled_done',
      },
    ]);
    assert.deepEqual(written, new Set([batched.id, reconciledBatched.id]));

    for (const [intent, reason, source, outcome] of [
      [alone, null, 'execute', 'succeeded'],
      [batched, null, 'execute', 'succeeded'],
      [reconciledAlone, 'reconciled after takeover', 'reconcile', 'reconciled_done'],
      [reconciledBatched, 'reconciled after takeover', 'reconcile', 'reconciled_done'],
    ] as const) {
      const detail = await t.h.service.get(intent.id);
      assert.equal(detail?.state, 'succeeded');
      assert.equal(detail?.stateReason, reason, `${intent.id} state_reason`);
      assert.equal(detail?.leaseOwner, null);
      assert.deepEqual(
        detail?.receipts.map((r) => [r.kind, r.source, r.executorId]),
        [['success', source, 'E']],
      );
      assert.deepEqual(
        detail?.attempts.map((a) => a.outcome),
        [outcome],
        'every open attempt closed',
      );
    }
  });
});
