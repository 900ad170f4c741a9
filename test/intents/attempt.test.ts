import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { claimLease, claimLeases, recordAttempt, recordAttempts } from '@handoff/intents';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

describe('the write-ahead attempt', () => {
  test('a batch of attempts leaves intents of a rate-limited key to take their tokens one by one', async () => {
    const limitedIntent = await t.newIntent({ account: 'limited' });
    const free = await t.newIntent();
    const leases = await claimLeases(t.h.tdb.db, {
      intentIds: [limitedIntent.id, free.id],
      owner: 'E',
      ttlSeconds: 30,
      heldKeys: ['scripted:*'],
    });
    const epochOf = (id: string) => leases.find((l) => l.intent.id === id)!.epoch;
    const { recorded, limited } = await recordAttempts(t.h.tdb.db, 'E', [
      { intentId: limitedIntent.id, epoch: epochOf(limitedIntent.id), rateKey: 'scripted:limited' },
      { intentId: free.id, epoch: epochOf(free.id), rateKey: `scripted:${free.account}` },
    ]);
    assert.deepEqual([...recorded.keys()], [free.id]);
    assert.deepEqual(
      limited.map((r) => r.intentId),
      [limitedIntent.id],
    );
    const detail = await t.h.service.get(limitedIntent.id);
    assert.deepEqual(detail?.attempts, [], 'nothing written for the limited intent');
  });

  test('an attempt that took a rate-limit token starts when the token was spent; one without a token starts when written', async () => {
    await t.h.tdb.db
      .updateTable('rate_buckets')
      .set({ blocked_until: null, tokens: 2 })
      .where('key', '=', 'scripted:limited')
      .execute();
    const limitedIntent = await t.newIntent({ account: 'limited' });
    const free = await t.newIntent();
    const [a, b] = await Promise.all(
      [limitedIntent, free].map((i) =>
        claimLease(t.h.tdb.db, { intentId: i.id, owner: 'E', ttlSeconds: 30, heldKeys: ['scripted:*'] }),
      ),
    );
    const withToken = await recordAttempt(t.h.tdb.db, {
      intentId: limitedIntent.id,
      epoch: a!.epoch,
      executorId: 'E',
      rateKey: 'scripted:limited',
    });
    assert.ok(withToken && 'attemptNo' in withToken);
    const bucket = await t.h.tdb.db
      .selectFrom('rate_buckets')
      .select('refilled_at')
      .where('key', '=', 'scripted:limited')
      .executeTakeFirstOrThrow();
    assert.equal(
      new Date(withToken.startedAt).getTime(),
      new Date(bucket.refilled_at).getTime(),
      'started_at is the bucket moment',
    );

    const before = Date.now();
    const { recorded } = await recordAttempts(t.h.tdb.db, 'E', [
      { intentId: free.id, epoch: b!.epoch, rateKey: `scripted:${free.account}` },
    ]);
    const started = recorded.get(free.id)?.startedAt;
    assert.ok(started && new Date(started).getTime() >= before - 1000, 'a free attempt starts now');
  });

  test('an attempt is refused when a gate closed after the claim', async () => {
    const intent = await t.newIntent({ account: 'gated' });
    const lease = await claimLease(t.h.tdb.db, {
      intentId: intent.id,
      owner: 'x',
      ttlSeconds: 5,
      heldKeys: ['scripted:*'],
    });
    assert.ok(lease);
    await t.h.service.setGate('global', { enabled: false }, 'op');
    try {
      assert.equal(await recordAttempt(t.h.tdb.db, { intentId: intent.id, epoch: lease.epoch, executorId: 'x' }), null);
    } finally {
      await t.h.service.setGate('global', { enabled: true }, 'op');
    }
  });
});
