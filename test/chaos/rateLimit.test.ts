import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor } from '../support/stack.ts';
import { countByState, createMany, report } from './support.ts';

const N = Number(process.env.CHAOS_RATE_INTENTS ?? 1000);
const RATE = 20;
const CAPACITY = 20;

test(`rate limit across 4 executors: ${N} intents on one key limited to ${RATE}/s`, async () => {
  const sink = await startRecordingSink();
  const stack = await startStack({
    policy: {
      approval: { rules: [{ channel: 'webhook', requireApproval: false }] },
      rateLimits: { 'webhook:limited': { capacity: CAPACITY, refillPerSecond: RATE } },
    },
  });
  try {
    // Create first, then start the executors: the sink shares this process, and a busy event loop
    // (serving creates) would stamp calls late and bunch them, which is the sink's error, not a burst.
    await createMany(stack, N, (i) => ({
      channel: 'webhook',
      account: 'limited',
      idempotencyKey: `rl-${i}`,
      payload: { url: `${sink.url}/rl`, body: { i } },
    }));
    await Promise.all([0, 1, 2, 3].map((i) => stack.spawnExecutor(`rl-${i}`)));
    await waitFor(
      'every intent to succeed',
      async () => (await countByState(stack)).succeeded === N,
      (N / RATE) * 1000 + 120_000,
      500,
    );
    const busiestWindow = (times: number[]): number => {
      let most = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (j < times.length && times[j]! - times[i]! < 1000) j++;
        most = Math.max(most, j - i);
      }
      return most;
    };
    const atSink = sink.requests.map((r) => r.receivedAt.getTime()).sort((a, b) => a - b);
    assert.equal(atSink.length, N, 'every intent reached the sink once');
    // when each call started, by the database's clock: the token is taken in the same transaction
    const started = (await stack.tdb.db.selectFrom('attempts').select('started_at').execute())
      .map((r) => new Date(r.started_at).getTime())
      .sort((a, b) => a - b);
    const busiest = busiestWindow(started);
    const busiestAtSink = busiestWindow(atSink);
    const span = (started.at(-1)! - started[0]!) / 1000;
    // after the first burst of `capacity`, calls can only come as fast as tokens refill
    const rate = (N - CAPACITY) / span;
    report('rate-limit', {
      intents: N,
      executors: 4,
      busiest_1s_window: busiest,
      busiest_1s_window_at_sink: busiestAtSink,
      limit_window: CAPACITY + RATE,
      overall_per_s: rate.toFixed(2),
      target_per_s: RATE,
      span_s: span.toFixed(1),
    });
    assert.equal(started.length, N, 'one attempt per intent: no token shortage ever failed one');
    assert.ok(busiest <= CAPACITY + RATE, `busiest 1 s window of call starts ${busiest} > ${CAPACITY + RATE}`);
    assert.ok(Math.abs(rate - RATE) / RATE <= 0.05, `overall rate ${rate.toFixed(2)}/s is not within 5 % of ${RATE}/s`);
  } finally {
    await stack.close();
    await sink.close();
  }
});
