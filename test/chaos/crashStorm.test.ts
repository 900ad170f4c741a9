import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type ExecutorProcess } from '../support/stack.ts';
import { countByState, createMany, report, sleep } from './support.ts';

const N = Number(process.env.CHAOS_INTENTS ?? 5000);
// Work arrives over time and each call takes a while, as with a real API, so that kills land on
// effects in flight: at full speed the pipeline finishes 5,000 intents between two kills.
const CREATES_PER_SECOND = Number(process.env.CHAOS_STORM_RATE ?? 200);
const MIN_KILLS = 5;

test(`crash storm: ${N} intents, 3 executors, one SIGKILLed every 0.5-2 s: nothing lost, nothing twice`, async () => {
  const sink = await startRecordingSink();
  sink.respondWith(() => ({ delayMs: 5 + Math.random() * 45, status: 200, body: { ok: true } }));
  const stack = await startStack({
    policy: {
      approval: { rules: [{ channel: 'webhook', requireApproval: false }] },
      lease: { ttlSeconds: 2 },
      retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000 },
    },
  });
  const executors: ExecutorProcess[] = await Promise.all([0, 1, 2].map((i) => stack.spawnExecutor(`storm-${i}`)));
  let kills = 0;
  let storming = true;
  const storm = (async () => {
    while (storming) {
      await sleep(500 + Math.random() * 1500);
      if (!storming) break;
      const i = Math.floor(Math.random() * executors.length);
      const victim = executors[i]!;
      victim.signal('SIGKILL');
      await victim.exited;
      kills++;
      executors[i] = await stack.spawnExecutor(victim.id);
    }
  })();
  try {
    const started = Date.now();
    const intents = await createMany(
      stack,
      N,
      (i) => ({
        channel: 'webhook',
        idempotencyKey: `storm-${i}`,
        payload: { url: `${sink.url}/storm`, body: { i }, statusUrl: sink.statusUrl },
      }),
      25,
      CREATES_PER_SECOND,
    );
    await waitFor(
      'every intent to end terminal',
      async () => {
        const c = await countByState(stack);
        return (c.succeeded ?? 0) + (c.in_doubt ?? 0) + (c.dead ?? 0) === N;
      },
      480_000,
      500,
    );
    storming = false;
    await storm;
    const seconds = (Date.now() - started) / 1000;
    const states = await countByState(stack);
    const counts = sink.countByKey();
    const twice = [...counts.entries()].filter(([, c]) => c > 1);
    assert.deepEqual(twice, [], 'no key reached the sink twice');
    const succeeded = await stack.tdb.db
      .selectFrom('intents')
      .select('idempotency_key')
      .where('state', '=', 'succeeded')
      .execute();
    const missing = succeeded.filter((r) => !counts.has(r.idempotency_key));
    assert.deepEqual(missing, [], 'every succeeded key reached the sink');
    assert.equal((states.succeeded ?? 0) + (states.in_doubt ?? 0) + (states.dead ?? 0), N);
    assert.equal(intents.length, N);
    report('crash-storm', {
      intents: N,
      kills,
      succeeded: states.succeeded ?? 0,
      in_doubt: states.in_doubt ?? 0,
      dead: states.dead ?? 0,
      keys_twice: twice.length,
      reconciles: sink.statusChecks(),
      seconds: seconds.toFixed(1),
    });
    // in_doubt is reserved for reconciles the receiver could not answer; it should be rare
    assert.ok((states.in_doubt ?? 0) <= 10, `in_doubt ${states.in_doubt}`);
    // the storm must have hit: enough kills, and takeovers of calls that had no receipt yet
    assert.ok(kills >= MIN_KILLS, `only ${kills} kills`);
    assert.ok(sink.statusChecks() > 0, 'no kill caught an effect in flight');
  } finally {
    storming = false;
    await storm.catch(() => undefined);
    await stack.close();
    await sink.close();
  }
});
