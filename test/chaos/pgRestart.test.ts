import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startRecordingSink } from '../support/recordingSink.ts';
import { waitFor, type ExecutorProcess, type Stack } from '../support/stack.ts';
import { startOwnPostgres, startStackOn } from './postgresSupport.ts';
import { countByState, report, sleep } from './support.ts';

const DOWN_MS = Number(process.env.CHAOS_PG_DOWN_MS ?? 5000);

/**
 * Creates intents with a few concurrent clients until stopped. A 503 (Postgres down) is expected
 * here: the same key is tried again later, as a client would. Anything else but 200/201 is a failure.
 */
function steadyCreator(stack: Stack, make: (key: string) => Record<string, unknown>) {
  let running = true;
  let next = 0;
  const created = new Set<string>();
  const unexpected: string[] = [];
  let refused503 = 0;
  const workers = Array.from({ length: 4 }, async () => {
    while (running) {
      const key = `pgr-${next++}`;
      for (;;) {
        const res = await stack
          .api('POST', '/v1/intents', make(key))
          .catch((err: unknown) => ({ status: -1, body: String(err) }));
        if (res.status === 200 || res.status === 201) {
          created.add(key);
          break;
        }
        if (res.status === 503) refused503++;
        else unexpected.push(`${res.status} ${JSON.stringify(res.body)}`);
        if (!running) break;
        await sleep(100);
      }
      await sleep(15);
    }
  });
  return {
    created,
    unexpected,
    refused503: () => refused503,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** Probes the API while Postgres is down: every answer must be a 503 (healthz included), none a 500 or a hang. */
async function probeWhileDown(stack: Stack, forMs: number, tag: string): Promise<Map<string, number>> {
  const statuses = new Map<string, number>();
  const deadline = Date.now() + forMs;
  let i = 0;
  while (Date.now() < deadline) {
    const probes: [string, string, unknown?][] = [
      ['GET', '/healthz'],
      ['GET', '/v1/intents?limit=5'],
      ['GET', '/v1/live'],
      ['GET', '/v1/gates'],
      [
        'POST',
        '/v1/intents',
        { channel: 'webhook', idempotencyKey: `down-${tag}-${i++}`, payload: { url: 'http://127.0.0.1:9/x' } },
      ],
    ];
    for (const [method, path, body] of probes) {
      const started = Date.now();
      const res = await stack.api(method, path, body).catch((err: unknown) => ({ status: -1, body: String(err) }));
      const key = `${method} ${path.split('?')[0]} ${res.status}`;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      assert.equal(
        res.status,
        503,
        `${method} ${path} while Postgres is down answered ${res.status} after ${Date.now() - started} ms: ${JSON.stringify(res.body)}`,
      );
    }
    await sleep(200);
  }
  return statuses;
}

test('Postgres restart mid-run: coordinator and executors reconnect by themselves; nothing lost, nothing twice', async () => {
  const pg = await startOwnPostgres();
  const sink = await startRecordingSink({ script: () => ({ delayMs: 20 }) });
  let stack: Stack | undefined;
  let creator: ReturnType<typeof steadyCreator> | undefined;
  try {
    stack = await startStackOn(pg.url(), {
      policy: {
        approval: { rules: [{ channel: 'webhook', requireApproval: false }] },
        lease: { ttlSeconds: 3 },
        retry: { maxAttempts: 8, baseDelayMs: 200, maxDelayMs: 2000 },
      },
    });
    const s = stack;
    const executors: ExecutorProcess[] = await Promise.all([s.spawnExecutor('pgr-a'), s.spawnExecutor('pgr-b')]);
    const pids = executors.map((e) => e.child.pid);
    const started = Date.now();
    creator = steadyCreator(s, (key) => ({
      channel: 'webhook',
      idempotencyKey: key,
      payload: { url: `${sink.url}/pgr`, body: { key }, statusUrl: sink.statusUrl },
    }));

    const outages: { mode: string; apiRecoveryMs: number; pipelineRecoveryMs: number }[] = [];
    let downAnswers = 0;
    for (const mode of ['fast', 'immediate'] as const) {
      const before = sink.requests.length;
      await waitFor('work to flow before the outage', async () => sink.requests.length >= before + 150, 120_000, 100);
      if (mode === 'fast') await pg.stopFast();
      else await pg.stopImmediate();
      const statuses = await probeWhileDown(s, DOWN_MS, mode);
      downAnswers += [...statuses.values()].reduce((a, b) => a + b, 0);
      await pg.start();
      const up = Date.now();
      // the coordinator answers again once its pool makes a new connection
      await waitFor(
        'the API to answer 200 again',
        async () => (await s.api('GET', '/v1/intents?limit=1')).status === 200,
        60_000,
        50,
      );
      const apiRecoveryMs = Date.now() - up;
      // the executors work again: a request reaches the sink after the restart
      const atUp = sink.requests.length;
      await waitFor('a new effect to reach the sink', async () => sink.requests.length > atUp, 60_000, 20);
      outages.push({ mode, apiRecoveryMs, pipelineRecoveryMs: Date.now() - up });
    }
    await sleep(2000);
    await creator.stop();
    assert.deepEqual(creator.unexpected, [], 'every create answered 2xx or 503');
    const rows = await s.tdb.db.selectFrom('intents').select('idempotency_key').execute();
    const inDb = new Set(rows.map((r) => r.idempotency_key));
    const total = inDb.size;
    assert.deepEqual(
      [...creator.created].filter((k) => !inDb.has(k)),
      [],
      'every create answered 2xx has its row',
    );
    assert.deepEqual(
      [...inDb].filter((k) => k.startsWith('down-')),
      [],
      'no create answered 503 wrote a row',
    );

    // the gate listeners re-established LISTEN: a gate closed now is heard by both executors
    const marks = executors.map((e) => e.output.length);
    assert.equal(
      (await s.api('PUT', '/v1/gates/pgr-probe', { enabled: false, reason: 'listen check', force: true })).status,
      200,
    );
    await waitFor(
      'both executors to hear the gate change',
      async () =>
        executors.every((e, i) =>
          e.output.slice(marks[i]).some((l) => l.includes('gates changed') && l.includes('pgr-probe')),
        ),
      30_000,
      50,
    );
    assert.equal((await s.api('PUT', '/v1/gates/pgr-probe', { enabled: true })).status, 200);

    await waitFor(
      'every intent to end terminal',
      async () => {
        const c = await countByState(s);
        return (c.succeeded ?? 0) + (c.in_doubt ?? 0) + (c.dead ?? 0) === total;
      },
      180_000,
      250,
    );
    // wake-ups after the restarts: one intent at a time at idle, create to the sink (informative;
    // a LISTEN that was not re-established would show as a polling interval, seconds)
    const pickups: number[] = [];
    for (let i = 0; i < 5; i++) {
      const key = `pgr-pickup-${i}`;
      const t0 = Date.now();
      const res = await s.api('POST', '/v1/intents', {
        channel: 'webhook',
        idempotencyKey: key,
        payload: { url: `${sink.url}/pgr`, body: {}, statusUrl: sink.statusUrl },
      });
      assert.equal(res.status, 201);
      await waitFor(
        'the pickup probe to reach the sink',
        async () => sink.requests.some((r) => r.idempotencyKey === key),
        30_000,
        5,
      );
      pickups.push(Date.now() - t0);
    }
    pickups.sort((a, b) => a - b);
    await waitFor(
      'the pickup probes to settle',
      async () => {
        const c = await countByState(s);
        return (c.succeeded ?? 0) + (c.in_doubt ?? 0) + (c.dead ?? 0) === total + pickups.length;
      },
      30_000,
      100,
    );
    const states = await countByState(s);
    const counts = sink.countByKey();
    const twice = [...counts.entries()].filter(([, c]) => c > 1);
    assert.deepEqual(twice, [], 'no key reached the sink twice');
    const succeeded = await s.tdb.db
      .selectFrom('intents')
      .select('idempotency_key')
      .where('state', '=', 'succeeded')
      .execute();
    assert.deepEqual(
      succeeded.filter((r) => !counts.has(r.idempotency_key)),
      [],
      'every succeeded key reached the sink',
    );
    assert.equal(
      (states.succeeded ?? 0) + (states.in_doubt ?? 0) + (states.dead ?? 0),
      total + pickups.length,
      'nothing lost',
    );
    // nobody restarted our processes: the same executors are alive
    for (const [i, e] of executors.entries()) {
      assert.equal(e.child.exitCode, null, `executor ${e.id} exited:\n${e.output.slice(-20).join('\n')}`);
      assert.equal(e.child.pid, pids[i]);
    }
    assert.equal((await s.api('GET', '/healthz')).status, 200);

    report('pg-restart', {
      intents: total + pickups.length,
      outages: outages.map((o) => `${o.mode}:${DOWN_MS}ms`).join(','),
      answers_while_down: downAnswers,
      all_503: 'yes',
      creates_refused_503: creator.refused503(),
      api_recovery_ms: outages.map((o) => o.apiRecoveryMs).join(','),
      pipeline_recovery_ms: outages.map((o) => o.pipelineRecoveryMs).join(','),
      succeeded: states.succeeded ?? 0,
      in_doubt: states.in_doubt ?? 0,
      dead: states.dead ?? 0,
      keys_twice: twice.length,
      pickup_after_restart_ms_p50: pickups[2]!,
      executor_tickets_failed: executors.reduce(
        (n, e) => n + e.output.filter((l) => l.includes('ticket failed')).length,
        0,
      ),
      reconciles: sink.statusChecks(),
      seconds: ((Date.now() - started) / 1000).toFixed(1),
    });
  } finally {
    await creator?.stop().catch(() => undefined);
    await stack?.close().catch(() => undefined);
    await sink.close();
    await pg.destroy();
  }
});
