import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  appendSuccessReceipt,
  appendSuccessReceipts,
  claimLease,
  claimLeases,
  recordAttempt,
  recordAttempts,
  renewLease,
} from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

describe('fencing: every executor write carries its epoch', () => {
  test('a stale lease holder cannot renew, record an attempt, or write a receipt', async () => {
    const intent = await t.newIntent();
    const a = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'A',
      ttlSeconds: 1,
      heldKeys: ['scripted:*'],
    });
    assert.ok(a);
    assert.equal(
      await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'B', ttlSeconds: 1, heldKeys: ['scripted:*'] }),
      null,
      'a live lease is not taken over',
    );
    await t.expireLease(intent.id);
    const b = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'B',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.ok(b);
    assert.equal(b.epoch, a.epoch + 1);

    const fenceA = { intentId: intent.id, epoch: a.epoch, executorId: 'A' };
    assert.equal(
      await renewLease(t.h.tdb.db, { intentId: intent.id, owner: 'A', epoch: a.epoch, ttlSeconds: 30 }),
      false,
    );
    assert.equal(await recordAttempt(t.h.tdb.db, fenceA), null);
    assert.equal(
      await appendSuccessReceipt(t.h.tdb.db, fenceA, {
        attemptNo: 1,
        externalId: 'stale',
        url: null,
        source: 'execute',
        outcome: 'succeeded',
      }),
      false,
    );

    const fenceB = { intentId: intent.id, epoch: b.epoch, executorId: 'B' };
    assert.ok(await recordAttempt(t.h.tdb.db, fenceB));
    assert.equal(
      await appendSuccessReceipt(t.h.tdb.db, fenceB, {
        attemptNo: 1,
        externalId: 'fresh',
        url: null,
        source: 'execute',
        outcome: 'succeeded',
      }),
      true,
    );
    const detail = await t.h.service.get(intent.id);
    assert.equal(detail?.state, 'succeeded');
    assert.deepEqual(
      detail?.receipts.map((r) => r.externalId),
      ['fresh'],
    );
  });

  test('the holder renews its lease while it holds it', async () => {
    const intent = await t.newIntent();
    const lease = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'A',
      ttlSeconds: 1,
      heldKeys: ['scripted:*'],
    });
    assert.ok(lease);
    assert.equal(
      await renewLease(t.h.tdb.db, { intentId: intent.id, owner: 'A', epoch: lease.epoch, ttlSeconds: 60 }),
      true,
    );
    const row = await t.h.tdb.db
      .selectFrom('intents')
      .select('lease_expires_at')
      .where('id', '=', intent.id)
      .executeTakeFirstOrThrow();
    assert.ok(row.lease_expires_at && new Date(row.lease_expires_at).getTime() > Date.now() + 30_000);
  });

  test('a batch claim takes only the eligible intents, and grouped writes fence each row by its own epoch', async () => {
    const [a, b, c] = [await t.newIntent(), await t.newIntent(), await t.newIntent()];
    const first = await claimLease(t.h.tdb.db, {
      intentId: c.id,
      owner: 'other',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.ok(first, 'c is leased elsewhere');
    const leases = await claimLeases(t.h.tdb.db, {
      intentIds: [a.id, b.id, c.id, a.id],
      owner: 'E',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.deepEqual(
      leases.map((l) => l.intent.id).sort(),
      [a.id, b.id].sort(),
      'the live lease on c is not taken; a duplicate id is one lease',
    );

    const [la, lb] = [leases.find((l) => l.intent.id === a.id)!, leases.find((l) => l.intent.id === b.id)!];
    // b's lease moves on to another holder before E writes: E's grouped writes for b must be refused
    await t.expireLease(b.id);
    const taken = await claimLease(t.h.tdb.db, {
      intentId: b.id,
      owner: 'F',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    assert.equal(taken?.epoch, lb.epoch + 1);

    const { recorded, limited } = await recordAttempts(t.h.tdb.db, 'E', [
      { intentId: a.id, epoch: la.epoch, rateKey: `scripted:${a.account}` },
      { intentId: b.id, epoch: lb.epoch, rateKey: `scripted:${b.account}` },
    ]);
    assert.deepEqual([...recorded.keys()], [a.id], 'only the live epoch records an attempt');
    assert.deepEqual(limited, []);

    const written = await appendSuccessReceipts(t.h.tdb.db, [
      {
        fence: { intentId: a.id, epoch: la.epoch, executorId: 'E' },
        attemptNo: recorded.get(a.id)!.attemptNo,
        externalId: 'ext-a',
        url: null,
      },
      { fence: { intentId: b.id, epoch: lb.epoch, executorId: 'E' }, attemptNo: 1, externalId: 'stale-b', url: null },
    ]);
    assert.deepEqual([...written], [a.id]);
    assert.equal((await t.h.service.get(a.id))?.state, 'succeeded');
    assert.equal((await t.h.service.get(a.id))?.attempts[0]?.outcome, 'succeeded');
    assert.equal((await t.h.service.get(b.id))?.state, 'running');
    assert.deepEqual((await t.h.service.get(b.id))?.receipts, []);
  });
});
