import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { processTicket } from '@handoff/executor';
import { claimLease, recordAttempt } from '@handoff/intents';
import { startRecordingSink } from '../support/recordingSink.ts';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

describe('a takeover of an attempt left open (the executor pipeline after claimLease found one)', () => {
  for (const [verdict, expected, calls] of [
    ['done', 'succeeded', 0],
    ['not_done', 'succeeded', 1],
    ['unknown', 'in_doubt', 0],
  ] as const) {
    test(`a takeover of an attempt without a receipt reconciles: "${verdict}" ends ${expected} with ${calls} more call(s)`, async () => {
      const intent = await t.newIntent();
      const a = await claimLease(t.h.tdb.db, {
        intentId: intent.id,
        owner: 'A',
        ttlSeconds: 1,
        heldKeys: ['scripted:*'],
      });
      assert.ok(a);
      assert.ok(await recordAttempt(t.h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
      // A dies here, mid-effect
      await t.expireLease(intent.id);
      t.scripted.reconcile = () =>
        Promise.resolve(
          verdict === 'done'
            ? { status: 'done', externalId: 'found-1', url: null }
            : verdict === 'not_done'
              ? { status: 'not_done' }
              : { status: 'unknown', reason: 'provider cannot say' },
        );
      t.scripted.execute = () => Promise.resolve({ externalId: 'second-call' });
      const before = t.scripted.executeCalls;
      await processTicket(t.h.executor('B'), intent.id);
      assert.equal(t.scripted.executeCalls - before, calls);
      const detail = await t.h.service.get(intent.id);
      assert.equal(detail?.state, expected);
      assert.equal(detail?.attempts.filter((x) => x.finishedAt === null).length, 0, 'no attempt left open');
      if (verdict === 'done') assert.equal(detail?.receipts[0]?.source, 'reconcile');
    });
  }

  test('a connector without reconcile sends a taken-over attempt to in_doubt, never a blind second call', async () => {
    const intent = await t.newIntent({ channel: 'webhook', payload: { url: 'http://127.0.0.1:9/never', body: {} } });
    await t.h.service.approve(intent.id, 'op');
    const a = await claimLease(t.h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['webhook:*'] });
    assert.ok(a);
    assert.ok(await recordAttempt(t.h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
    await t.expireLease(intent.id);
    assert.equal(await processTicket(t.h.executor('B'), intent.id), 'in_doubt');
    const detail = await t.h.service.get(intent.id);
    assert.equal(detail?.attempts.length, 1, 'no second attempt');
    assert.equal(detail?.receipts[0]?.kind, 'failure');
  });

  test('a webhook with a statusUrl reconciles against the receiver: not received -> exactly one call, received -> none', async () => {
    const sink = await startRecordingSink();
    try {
      for (const received of [false, true]) {
        const intent = await t.newIntent({
          channel: 'webhook',
          payload: { url: `${sink.url}/w`, body: {}, statusUrl: sink.statusUrl },
        });
        await t.h.service.approve(intent.id, 'op');
        const a = await claimLease(t.h.tdb.db, {
          intentId: intent.id,
          owner: 'A',
          ttlSeconds: 1,
          heldKeys: ['webhook:*'],
        });
        assert.ok(a);
        assert.ok(await recordAttempt(t.h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
        // A crashes either before its request left (received=false) or after the receiver got it
        if (received) {
          await fetch(`${sink.url}/w`, {
            method: 'POST',
            headers: { 'idempotency-key': intent.idempotencyKey },
            body: '{}',
          });
        }
        await t.expireLease(intent.id);
        const outcome = await processTicket(t.h.executor('B'), intent.id);
        assert.equal(outcome, received ? 'reconciled_done' : 'reconciled_not_done_executed');
        assert.equal(sink.countByKey().get(intent.idempotencyKey), 1);
        assert.equal((await t.h.service.get(intent.id))?.state, 'succeeded');
      }
    } finally {
      await sink.close();
    }
  });
});
