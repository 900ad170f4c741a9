import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IntentDetail } from '@handoff/contracts';
import { startRecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor } from '../support/stack.ts';
import { report, sleep } from './support.ts';

const ROUNDS = 5;

test('pause past the lease: a SIGSTOPped holder is taken over, and after SIGCONT its writes are rejected', async () => {
  const sink = await startRecordingSink();
  const stack = await startStack({
    policy: { approval: { rules: [{ channel: 'webhook', requireApproval: false }] }, lease: { ttlSeconds: 2 } },
  });
  try {
    const executors = await Promise.all([stack.spawnExecutor('pause-a'), stack.spawnExecutor('pause-b')]);
    let rejected = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const key = `pause-${round}`;
      // the effect is in flight (request received, answer pending) when the holder freezes
      sink.respondWith((req) => (req.idempotencyKey === key ? { delayMs: 400 } : undefined));
      const created = await stack.api<IntentDetail>('POST', '/v1/intents', {
        channel: 'webhook',
        idempotencyKey: key,
        payload: { url: `${sink.url}/pause`, body: {}, statusUrl: sink.statusUrl },
      });
      await waitFor('the effect to start', async () => sink.requests.find((r) => r.idempotencyKey === key));
      const holderId = (await stack.api<IntentDetail>('GET', `/v1/intents/${created.body.id}`)).body.leaseOwner;
      const holder = executors.find((e) => e.id === holderId)!;
      const linesBefore = holder.output.length;
      holder.signal('SIGSTOP');
      let detail: IntentDetail;
      try {
        detail = await waitFor(
          'the other executor to take over and settle it',
          async () => {
            const d = (await stack.api<IntentDetail>('GET', `/v1/intents/${created.body.id}`)).body;
            return d.state === 'succeeded' || d.state === 'in_doubt' ? d : null;
          },
          20_000,
        );
      } finally {
        holder.signal('SIGCONT');
      }
      assert.equal(detail.state, 'succeeded');
      assert.equal(detail.receipts[0]?.source, 'reconcile', 'the new holder reconciled; it did not call again');
      assert.notEqual(detail.receipts[0]?.executorId, holder.id);
      // its write is refused by the epoch check ("stale lease holder"), or it learns first that the
      // lease is gone ("lease lost"), or its connection was ended while it was frozen ("ticket failed")
      await waitFor(
        'the woken holder to give up its write',
        async () => holder.output.slice(linesBefore).some((l) => /stale lease holder|lease lost|ticket failed/.test(l)),
        20_000,
      );
      rejected++;
      await sleep(200);
      const after = (await stack.api<IntentDetail>('GET', `/v1/intents/${created.body.id}`)).body;
      assert.equal(after.receipts.length, 1, 'the stale holder added nothing');
      assert.equal(sink.countByKey().get(key), 1, 'no key twice at the sink');
    }
    report('pause-past-lease', { rounds: ROUNDS, takeovers: ROUNDS, stale_writes_rejected: rejected, keys_twice: 0 });
  } finally {
    sink.respondWith(null);
    await stack.close();
    await sink.close();
  }
});
