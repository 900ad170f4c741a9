import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Intent, IntentDetail } from '@handoff/contracts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { startStack, waitFor, type ExecutorProcess, type Stack } from '../support/stack.ts';

/**
 * The executor process (apps/executor/main.ts, startExecutor) as deployed: the coordinator's HTTP
 * API, two executor child processes, real Postgres and a real HTTP receiver recording every call;
 * killed, frozen and stopped mid-effect.
 */
let stack: Stack;
let sink: RecordingSink;
let execA: ExecutorProcess;
let execB: ExecutorProcess;
let n = 0;
const SETTLED = ['succeeded', 'dead', 'in_doubt', 'rejected', 'expired'];

before(async () => {
  sink = await startRecordingSink();
  stack = await startStack({
    policy: {
      approval: {
        rules: [
          { channel: 'webhook', account: 'auto', requireApproval: false },
          { channel: 'webhook', account: 'limited', requireApproval: false },
          { channel: 'webhook', account: 'slow', requireApproval: false },
        ],
      },
      lease: { ttlSeconds: 2 },
      retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 200 },
      rateLimits: {
        'webhook:limited': { capacity: 5, refillPerSecond: 5 },
        'webhook:slow': { capacity: 1, refillPerSecond: 4 },
      },
    },
  });
  [execA, execB] = await Promise.all([stack.spawnExecutor('exec-a'), stack.spawnExecutor('exec-b')]);
});

after(async () => {
  await stack.close();
  await sink.close();
});

async function create(
  account: string,
  extra: { key?: string; path?: string; statusUrl?: boolean } = {},
): Promise<Intent> {
  const key = extra.key ?? `exec-test-${process.pid}-${++n}`;
  const res = await stack.api<Intent>('POST', '/v1/intents', {
    channel: 'webhook',
    account,
    idempotencyKey: key,
    payload: {
      url: `${sink.url}${extra.path ?? '/hook'}`,
      body: { key },
      ...(extra.statusUrl ? { statusUrl: sink.statusUrl } : {}),
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function detail(id: string): Promise<IntentDetail> {
  return (await stack.api<IntentDetail>('GET', `/v1/intents/${id}`)).body;
}

async function settled(id: string, states = SETTLED): Promise<IntentDetail> {
  return waitFor(`intent ${id} to settle`, async () => {
    const d = await detail(id);
    return states.includes(d.state) ? d : null;
  });
}

describe('intents through real executor processes', () => {
  test('approve -> exactly one webhook call carrying the Idempotency-Key -> a success receipt with the external id', async () => {
    const intent = await create('default');
    assert.equal(intent.state, 'pending_approval', 'webhook is draft-only by default');
    await sleep(300);
    assert.equal(sink.countByKey().get(intent.idempotencyKey), undefined, 'nothing runs before approval');
    const approved = await stack.api<Intent>('POST', `/v1/intents/${intent.id}/approve`, {});
    assert.equal(approved.status, 200);
    const done = await settled(intent.id);
    assert.equal(done.state, 'succeeded');
    assert.equal(sink.countByKey().get(intent.idempotencyKey), 1);
    const call = sink.requests.find((r) => r.idempotencyKey === intent.idempotencyKey)!;
    assert.deepEqual(call.json, { key: intent.idempotencyKey });
    assert.equal(done.receipts.length, 1);
    const id = done.receipts[0]!.externalId;
    assert.ok(id, 'the receipt holds the external id');
    assert.equal(done.receipts[0]!.url, `${sink.url}/${id}`);
  });

  test('a rejected intent never runs', async () => {
    const intent = await create('default');
    const res = await stack.api<Intent>('POST', `/v1/intents/${intent.id}/reject`, { reason: 'not today' });
    assert.equal(res.body.state, 'rejected');
    assert.equal((await stack.api('POST', `/v1/intents/${intent.id}/approve`, {})).status, 409);
    await sleep(300);
    assert.equal(sink.countByKey().get(intent.idempotencyKey), undefined);
  });

  test('two executors never run the same intent: no attempt begins beside an open one, and a key reaches the receiver again only after a retryable cut-off', async () => {
    const intents = await Promise.all(Array.from({ length: 150 }, () => create('auto')));
    const ids = intents.map((i) => i.id);
    // On a loaded machine a 2 s lease can be lost mid-call. The design answers that with a retry
    // under the same key (decision 11) or, after a takeover, with in_doubt: either is settled here.
    await waitFor(
      'all 150 intents to settle',
      async () => {
        const rows = await stack.tdb.db.selectFrom('intents').select('state').where('id', 'in', ids).execute();
        return rows.every((r) => SETTLED.includes(r.state));
      },
      60_000,
      100,
    );
    // A takeover reconciles the attempt it found open; it never runs beside it (decision 139).
    const overlapping = await sql<{ intent_id: string; attempt_no: number; open_earlier: number }>`
      SELECT a.intent_id, a.attempt_no, p.attempt_no AS open_earlier FROM attempts a
      JOIN attempts p ON p.intent_id = a.intent_id AND p.attempt_no < a.attempt_no
      WHERE a.intent_id = ANY(${ids}::uuid[]) AND (p.finished_at IS NULL OR p.finished_at > a.started_at)`.execute(
      stack.tdb.db,
    );
    assert.deepEqual(overlapping.rows, [], 'an attempt began while an earlier one of its intent was open');
    // The receiver dedupes on the key, so a call cut off after sending (a timeout, a lost lease's
    // abort) is retried under the same key: one more arrival per retryable attempt, never more
    // (decision 140). The sink answers every repeat of a key with the same id.
    const attempts = await stack.tdb.db
      .selectFrom('attempts')
      .select(['intent_id', 'outcome'])
      .where('intent_id', 'in', ids)
      .execute();
    const states = new Map(
      (await stack.tdb.db.selectFrom('intents').select(['id', 'state']).where('id', 'in', ids).execute()).map((r) => [
        r.id,
        r.state,
      ]),
    );
    const counts = sink.countByKey();
    for (const i of intents) {
      const calls = counts.get(i.idempotencyKey) ?? 0;
      const cutOff = attempts.filter((a) => a.intent_id === i.id && a.outcome === 'retryable').length;
      assert.ok(calls <= 1 + cutOff, `key ${i.idempotencyKey} reached the sink ${calls} times after ${cutOff} retries`);
      if (states.get(i.id) === 'succeeded') assert.ok(calls >= 1, `succeeded ${i.id} without reaching the sink`);
    }
  });

  test('the rate limit holds across two executors', async () => {
    const start = sink.requests.length;
    const intents = await Promise.all(Array.from({ length: 30 }, () => create('limited', { path: '/limited' })));
    await Promise.all(intents.map((i) => settled(i.id)));
    const times = sink.requests
      .slice(start)
      .filter((r) => r.path === '/limited')
      .map((r) => r.receivedAt.getTime())
      .sort((a, b) => a - b);
    assert.equal(times.length, 30);
    let busiest = 0;
    for (let i = 0; i < times.length; i++) {
      let j = i;
      while (j < times.length && times[j]! - times[i]! < 1000) j++;
      busiest = Math.max(busiest, j - i);
    }
    // capacity 5 + 5 refilled within any one second
    assert.ok(busiest <= 10, `busiest 1 s window had ${busiest} calls`);
    const span = times.at(-1)! - times[0]!;
    assert.ok(span >= ((30 - 5) / 5) * 1000 * 0.9, `30 calls at 5/s after a burst of 5 took ${span} ms`);
  });

  test('a closed gate stops new work within a second, and opening it resumes', async () => {
    const intents = await Promise.all(Array.from({ length: 16 }, () => create('slow', { path: '/slow' })));
    await waitFor('work to flow', async () => sink.requests.some((r) => r.path === '/slow'));
    const closed = await stack.api('PUT', '/v1/gates/global', { enabled: false, reason: 'test' });
    assert.equal(closed.status, 200);
    const closedAt = Date.now();
    await sleep(1500);
    const late = sink.requests.filter((r) => r.path === '/slow' && r.receivedAt.getTime() > closedAt + 1000);
    assert.equal(late.length, 0, 'no call started more than a second after the gate closed');
    const seenWhileClosed = sink.requests.filter((r) => r.path === '/slow').length;
    assert.ok(seenWhileClosed < 16, 'the gate stopped work before the batch was done');
    await stack.api('PUT', '/v1/gates/global', { enabled: true });
    await Promise.all(intents.map((i) => settled(i.id)));
    for (const i of intents) assert.equal(sink.countByKey().get(i.idempotencyKey), 1);
  });

  test('an executor killed with SIGKILL mid-effect leads to in_doubt, never a blind second call', async () => {
    const key = `killed-${process.pid}`;
    sink.respondWith((req) => (req.idempotencyKey === key ? { delayMs: 8000 } : undefined));
    try {
      const intent = await create('auto', { key });
      await waitFor('the effect to start', async () => sink.requests.find((r) => r.idempotencyKey === key));
      const holder = (await detail(intent.id)).leaseOwner;
      const victim = holder === execA.id ? execA : execB;
      victim.signal('SIGKILL');
      await victim.exited;
      const done = await settled(intent.id);
      assert.equal(done.state, 'in_doubt');
      assert.equal(sink.countByKey().get(key), 1, 'the webhook was called exactly once');
      assert.match(done.lastError ?? '', /cannot reconcile|unknown/);
      // the operator decides: resolve it with the id the receiver shows
      const resolved = await stack.api<Intent>('POST', `/v1/intents/${intent.id}/resolve`, {
        externalId: 'seen-in-receiver',
      });
      assert.equal(resolved.body.state, 'succeeded');
      // bring the killed executor back for later tests
      if (victim === execA) execA = await stack.spawnExecutor('exec-a');
      else execB = await stack.spawnExecutor('exec-b');
    } finally {
      sink.respondWith(null);
    }
  });

  test('a SIGKILL mid-effect on a webhook with a statusUrl reconciles to succeeded, with no second call', async () => {
    const key = `killed-status-${process.pid}`;
    sink.respondWith((req) => (req.idempotencyKey === key ? { delayMs: 8000 } : undefined));
    try {
      const intent = await create('auto', { key, statusUrl: true });
      await waitFor('the effect to start', async () => sink.requests.find((r) => r.idempotencyKey === key));
      const holder = (await detail(intent.id)).leaseOwner;
      const victim = holder === execA.id ? execA : execB;
      victim.signal('SIGKILL');
      await victim.exited;
      const done = await settled(intent.id);
      assert.equal(done.state, 'succeeded');
      assert.equal(done.receipts[0]?.source, 'reconcile');
      assert.equal(sink.countByKey().get(key), 1, 'the webhook was called exactly once');
      assert.ok(sink.statusChecks() >= 1);
      if (victim === execA) execA = await stack.spawnExecutor('exec-a');
      else execB = await stack.spawnExecutor('exec-b');
    } finally {
      sink.respondWith(null);
    }
  });

  test('a frozen lease holder that wakes after a takeover has its writes rejected', async () => {
    const key = `frozen-${process.pid}`;
    sink.respondWith((req) => (req.idempotencyKey === key ? { delayMs: 300 } : undefined));
    try {
      const intent = await create('auto', { key });
      await waitFor('the effect to start', async () => sink.requests.find((r) => r.idempotencyKey === key));
      const holder = (await detail(intent.id)).leaseOwner;
      const frozen = holder === execA.id ? execA : execB;
      frozen.signal('SIGSTOP');
      try {
        // the other executor takes over after the 2 s TTL; webhook cannot reconcile: in_doubt
        const taken = await settled(intent.id);
        assert.equal(taken.state, 'in_doubt');
      } finally {
        frozen.signal('SIGCONT');
      }
      await waitFor(
        'the woken holder to give up its write',
        async () => frozen.output.some((l) => /stale lease holder|lease lost|ticket failed/.test(l)),
        10_000,
      );
      const after = await detail(intent.id);
      assert.equal(after.state, 'in_doubt', 'the stale holder changed nothing');
      assert.equal(after.receipts.length, 1);
      assert.equal(after.receipts[0]!.kind, 'failure');
      assert.equal(sink.countByKey().get(key), 1, 'no second call');
    } finally {
      sink.respondWith(null);
    }
  });

  test('SIGTERM drains: the in-flight effect finishes with a receipt and the process exits 0', async () => {
    const key = `drain-${process.pid}`;
    sink.respondWith((req) => (req.idempotencyKey === key ? { delayMs: 1200 } : undefined));
    try {
      const intent = await create('auto', { key });
      await waitFor('the effect to start', async () => sink.requests.find((r) => r.idempotencyKey === key));
      const holder = (await detail(intent.id)).leaseOwner;
      const victim = holder === execA.id ? execA : execB;
      victim.signal('SIGTERM');
      assert.equal(await victim.exited, 0);
      const d = await detail(intent.id);
      assert.equal(d.state, 'succeeded', 'the receipt was written before exit');
      assert.equal(sink.countByKey().get(key), 1);
      const row = await stack.tdb.db
        .selectFrom('executors')
        .select('status')
        .where('id', '=', victim.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.status, 'stopped');
    } finally {
      sink.respondWith(null);
    }
  });
});
