import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createExecutorStore, keepLease } from '@handoff/executor';
import { quietLog, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { waitFor } from '../support/stack.ts';

/**
 * keepLease (apps/executor/leaseKeeper.ts): renews the lease while an effect runs, and aborts the
 * effect the moment the lease is no longer this executor's, by answer or by the clock.
 */
type Renewal = { intentId: string; epoch: number; ttlSeconds: number };

function fakeStore(answer: (n: number) => Promise<boolean>) {
  const renewals: Renewal[] = [];
  return { renewals, store: { renewLease: (lease: Renewal) => answer(renewals.push(lease)) } };
}

describe('keepLease against a scripted store', () => {
  test('renews every third of the TTL while the effect runs, and stop() ends the renewals', async () => {
    const { renewals, store } = fakeStore(() => Promise.resolve(true));
    const keeper = keepLease(store, { intentId: 'i-1', epoch: 7, ttlSeconds: 0.9, log: quietLog });
    await sleep(1_400);
    // ticks at 0.3, 0.6, 0.9, 1.2 s (a loaded machine may lose one)
    assert.ok(renewals.length >= 3, `${renewals.length} renewals in 1.4 s at a 0.9 s TTL`);
    assert.deepEqual(renewals[0], { intentId: 'i-1', epoch: 7, ttlSeconds: 0.9 });
    assert.equal(keeper.signal.aborted, false, 'the lease outlives its first TTL while renewals succeed');
    assert.equal(keeper.lost(), false);
    keeper.stop();
    const made = renewals.length;
    await sleep(700);
    assert.equal(renewals.length, made, 'no renewal after stop()');
  });

  test('a renewal that finds the lease gone (a newer epoch holds it) aborts the effect and renews no more', async () => {
    const { renewals, store } = fakeStore(() => Promise.resolve(false));
    const keeper = keepLease(store, { intentId: 'i-2', epoch: 1, ttlSeconds: 0.6, log: quietLog });
    await waitFor('the effect to be aborted', async () => keeper.signal.aborted, 2_000, 20);
    assert.equal(keeper.lost(), true);
    assert.match((keeper.signal.reason as Error).message, /lease lost/);
    await sleep(500);
    assert.equal(renewals.length, 1, 'nothing left to renew');
  });

  test('a renewal that hangs past the TTL aborts the effect at expiry, with no second renewal piled on', async () => {
    const { renewals, store } = fakeStore(() => new Promise<boolean>(() => undefined));
    const startedAt = Date.now();
    const keeper = keepLease(store, { intentId: 'i-3', epoch: 1, ttlSeconds: 0.6, log: quietLog });
    await waitFor('the effect to be aborted', async () => keeper.signal.aborted, 2_000, 10);
    const after = Date.now() - startedAt;
    assert.ok(after >= 600 && after < 1_500, `aborted ${after} ms into a 600 ms lease`);
    assert.match((keeper.signal.reason as Error).message, /lease expired/);
    assert.equal(renewals.length, 1, 'one renewal at a time');
    keeper.stop();
  });

  test('a failed renewal is tried again on the next tick, and the lease is kept if that one succeeds in time', async () => {
    const { renewals, store } = fakeStore((n) =>
      n === 1 ? Promise.reject(new Error('connection reset')) : Promise.resolve(true),
    );
    const keeper = keepLease(store, { intentId: 'i-4', epoch: 1, ttlSeconds: 0.9, log: quietLog });
    await sleep(1_300);
    assert.ok(renewals.length >= 3);
    assert.equal(keeper.signal.aborted, false);
    keeper.stop();
  });
});

describe('keepLease against Postgres', () => {
  let h: PipelineHarness;
  before(async () => {
    h = await startPipeline({ policy: { approval: { rules: [{ channel: 'webhook', requireApproval: false }] } } });
  });
  after(async () => {
    await h?.close();
  });

  test("a kept lease cannot be taken over; once it lapses and another executor takes it, the first holder's effect is aborted", async () => {
    const { intent } = await h.service.create(
      {
        channel: 'webhook',
        account: 'default',
        idempotencyKey: `keeper-${process.pid}`,
        payload: { url: 'http://127.0.0.1:9/hook', body: {} },
      },
      'test',
    );
    const a = createExecutorStore({ db: h.tdb.db, boss: h.boss, executorId: 'A' });
    const b = createExecutorStore({ db: h.tdb.db, boss: h.boss, executorId: 'B' });
    const claim = { ttlSeconds: 1, heldKeys: ['webhook:*'] };
    const [lease] = await a.claimLeases([intent.id], claim);
    assert.ok(lease, 'A leases the intent');

    const keeper = keepLease(a, { intentId: intent.id, epoch: lease.epoch, ttlSeconds: 1, log: quietLog });
    await sleep(1_500);
    assert.deepEqual(await b.claimLeases([intent.id], claim), [], "a renewed lease is still A's after its TTL");
    keeper.stop();

    await sleep(1_200);
    const [taken] = await b.claimLeases([intent.id], claim);
    assert.ok(taken && taken.epoch > lease.epoch, 'B takes over the lapsed lease with a newer epoch');
    const late = keepLease(a, { intentId: intent.id, epoch: lease.epoch, ttlSeconds: 1, log: quietLog });
    await waitFor("A's effect to be aborted", async () => late.signal.aborted, 3_000, 20);
    assert.match((late.signal.reason as Error).message, /lease lost/);
  });
});
