import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { z } from 'zod';
import { IntentState } from '../libs/contracts/index.ts';
import {
  PermanentError,
  RateLimitedError,
  RetryableError,
  type Connector,
  type ReconcileResult,
} from '../libs/connectors/index.ts';
import {
  appendSuccessReceipt,
  appendSuccessReceipts,
  claimLease,
  claimLeases,
  fromStates,
  recordAttempt,
  recordAttempts,
  renewLease,
  sweep,
  transitions,
} from '../libs/intents/index.ts';
import { processTicket } from '@handoff/executor';
import { startPipeline, type PipelineHarness } from './support/pipeline.ts';
import { startRecordingSink } from './support/recordingSink.ts';

/** A connector whose behaviour each test scripts, and which counts its calls. */
function scriptedConnector() {
  const state = {
    executeCalls: 0,
    reconcileCalls: 0,
    execute: (): Promise<{ externalId: string; url?: string | null }> => Promise.resolve({ externalId: 'ext-1', url: 'https://example.test/1' }),
    reconcile: undefined as undefined | (() => Promise<ReconcileResult>),
  };
  const connector: Connector<Record<string, unknown>> = {
    name: 'scripted',
    externalEffect: true,
    needsCredentials: false,
    payloadSchema: z.record(z.string(), z.unknown()),
    execute: () => {
      state.executeCalls++;
      return state.execute();
    },
    reconcile(_intent) {
      state.reconcileCalls++;
      if (!state.reconcile) return Promise.resolve({ status: 'unknown', reason: 'no script' } as const);
      return state.reconcile();
    },
  };
  return { connector, state };
}

let h: PipelineHarness;
let scripted: ReturnType<typeof scriptedConnector>;
let seq = 0;

before(async () => {
  scripted = scriptedConnector();
  h = await startPipeline({
    connectors: [scripted.connector],
    policy: {
      approval: { rules: [{ channel: 'scripted', requireApproval: false }] },
      retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
      lease: { ttlSeconds: 1 },
      breaker: { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
      rateLimits: { 'scripted:limited': { capacity: 2, refillPerSecond: 0.01 } },
    },
  });
});
after(async () => {
  await h.close();
});

async function newIntent(opts: { channel?: string; account?: string; payload?: Record<string, unknown> } = {}) {
  const { intent } = await h.service.create(
    {
      channel: opts.channel ?? 'scripted',
      account: opts.account ?? `acct${seq}`,
      payload: opts.payload ?? { n: seq },
      idempotencyKey: `pipeline-${process.pid}-${++seq}`,
    },
    'test',
  );
  return intent;
}

async function stateOf(id: string): Promise<string> {
  const row = await h.tdb.db.selectFrom('intents').select('state').where('id', '=', id).executeTakeFirstOrThrow();
  return row.state;
}

async function expireLease(id: string): Promise<void> {
  await h.tdb.db.updateTable('intents').set({ lease_expires_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();
}

async function makeRunnable(id: string): Promise<void> {
  await h.tdb.db.updateTable('intents').set({ run_after: null }).where('id', '=', id).execute();
}

describe('the intent state machine', () => {
  const states = IntentState.options;
  const operations = {
    approve: (id: string) => h.service.approve(id, 'op'),
    reject: (id: string) => h.service.reject(id, 'op', 'no'),
    operatorRetry: (id: string) => h.service.retry(id, 'op'),
    operatorResolve: (id: string) => h.service.resolve(id, 'op', { externalId: 'x' }),
  } as const;

  for (const [name, run] of Object.entries(operations)) {
    test(`operator "${name}" is allowed from exactly ${fromStates(name as keyof typeof operations).join(', ')}`, async () => {
      for (const from of states) {
        const intent = await newIntent({ channel: 'noop' });
        await h.tdb.db.updateTable('intents').set({ state: from }).where('id', '=', intent.id).execute();
        const allowed = fromStates(name as keyof typeof operations).includes(from);
        if (allowed) {
          const result = await run(intent.id);
          assert.equal(result.state, transitions[name as keyof typeof operations].to, `${name} from ${from}`);
        } else {
          await assert.rejects(run(intent.id), (err: { code?: string }) => err.code === 'invalid_state', `${name} from ${from} must be refused`);
          assert.equal(await stateOf(intent.id), from);
        }
      }
    });
  }

  test('a lease is taken only from approved, retry_wait, or running with an expired lease', async () => {
    for (const from of states) {
      const intent = await newIntent({ channel: 'noop' });
      await h.tdb.db
        .updateTable('intents')
        .set({ state: from, run_after: null, lease_expires_at: new Date(Date.now() + 60_000) })
        .where('id', '=', intent.id)
        .execute();
      const lease = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['noop:*'] });
      assert.equal(lease !== null, from === 'approved' || from === 'retry_wait', `claim from ${from}`);
    }
  });
});

describe('leases and fencing', () => {
  test('two claimers at once: exactly one gets the lease', async () => {
    const intent = await newIntent();
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => claimLease(h.tdb.db, { intentId: intent.id, owner: `e${i}`, ttlSeconds: 5, heldKeys: ['scripted:*'] })),
    );
    assert.equal(claims.filter((c) => c !== null).length, 1);
  });

  test('a stale lease holder cannot renew, record an attempt, or write a receipt', async () => {
    const intent = await newIntent();
    const a = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['scripted:*'] });
    assert.ok(a);
    assert.equal(await claimLease(h.tdb.db, { intentId: intent.id, owner: 'B', ttlSeconds: 1, heldKeys: ['scripted:*'] }), null, 'a live lease is not taken over');
    await expireLease(intent.id);
    const b = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'B', ttlSeconds: 30, heldKeys: ['scripted:*'] });
    assert.ok(b);
    assert.equal(b.epoch, a.epoch + 1);

    const fenceA = { intentId: intent.id, epoch: a.epoch, executorId: 'A' };
    assert.equal(await renewLease(h.tdb.db, { intentId: intent.id, owner: 'A', epoch: a.epoch, ttlSeconds: 30 }), false);
    assert.equal(await recordAttempt(h.tdb.db, fenceA), null);
    assert.equal(await appendSuccessReceipt(h.tdb.db, fenceA, { attemptNo: 1, externalId: 'stale', url: null, source: 'execute', outcome: 'succeeded' }), false);

    const fenceB = { intentId: intent.id, epoch: b.epoch, executorId: 'B' };
    assert.ok(await recordAttempt(h.tdb.db, fenceB));
    assert.equal(await appendSuccessReceipt(h.tdb.db, fenceB, { attemptNo: 1, externalId: 'fresh', url: null, source: 'execute', outcome: 'succeeded' }), true);
    const detail = await h.service.get(intent.id);
    assert.equal(detail?.state, 'succeeded');
    assert.deepEqual(detail?.receipts.map((r) => r.externalId), ['fresh']);
  });

  test('a batch claim takes only the eligible intents, and grouped writes fence each row by its own epoch', async () => {
    const [a, b, c] = [await newIntent(), await newIntent(), await newIntent()];
    const first = await claimLease(h.tdb.db, { intentId: c.id, owner: 'other', ttlSeconds: 30, heldKeys: ['scripted:*'] });
    assert.ok(first, 'c is leased elsewhere');
    const leases = await claimLeases(h.tdb.db, { intentIds: [a.id, b.id, c.id, a.id], owner: 'E', ttlSeconds: 30, heldKeys: ['scripted:*'] });
    assert.deepEqual(leases.map((l) => l.intent.id).sort(), [a.id, b.id].sort(), 'the live lease on c is not taken; a duplicate id is one lease');

    const [la, lb] = [leases.find((l) => l.intent.id === a.id)!, leases.find((l) => l.intent.id === b.id)!];
    // b's lease moves on to another holder before E writes: E's grouped writes for b must be refused
    await expireLease(b.id);
    const taken = await claimLease(h.tdb.db, { intentId: b.id, owner: 'F', ttlSeconds: 30, heldKeys: ['scripted:*'] });
    assert.equal(taken?.epoch, lb.epoch + 1);

    const { recorded, limited } = await recordAttempts(h.tdb.db, 'E', [
      { intentId: a.id, epoch: la.epoch, rateKey: `scripted:${a.account}` },
      { intentId: b.id, epoch: lb.epoch, rateKey: `scripted:${b.account}` },
    ]);
    assert.deepEqual([...recorded.keys()], [a.id], 'only the live epoch records an attempt');
    assert.deepEqual(limited, []);

    const written = await appendSuccessReceipts(h.tdb.db, [
      { fence: { intentId: a.id, epoch: la.epoch, executorId: 'E' }, attemptNo: recorded.get(a.id)!.attemptNo, externalId: 'ext-a', url: null },
      { fence: { intentId: b.id, epoch: lb.epoch, executorId: 'E' }, attemptNo: 1, externalId: 'stale-b', url: null },
    ]);
    assert.deepEqual([...written], [a.id]);
    assert.equal((await h.service.get(a.id))?.state, 'succeeded');
    assert.equal((await h.service.get(a.id))?.attempts[0]?.outcome, 'succeeded');
    assert.equal((await h.service.get(b.id))?.state, 'running');
    assert.deepEqual((await h.service.get(b.id))?.receipts, []);
  });

  test('a batch of attempts leaves intents of a rate-limited key to take their tokens one by one', async () => {
    const limitedIntent = await newIntent({ account: 'limited' });
    const free = await newIntent();
    const leases = await claimLeases(h.tdb.db, { intentIds: [limitedIntent.id, free.id], owner: 'E', ttlSeconds: 30, heldKeys: ['scripted:*'] });
    const epochOf = (id: string) => leases.find((l) => l.intent.id === id)!.epoch;
    const { recorded, limited } = await recordAttempts(h.tdb.db, 'E', [
      { intentId: limitedIntent.id, epoch: epochOf(limitedIntent.id), rateKey: 'scripted:limited' },
      { intentId: free.id, epoch: epochOf(free.id), rateKey: `scripted:${free.account}` },
    ]);
    assert.deepEqual([...recorded.keys()], [free.id]);
    assert.deepEqual(limited.map((r) => r.intentId), [limitedIntent.id]);
    const detail = await h.service.get(limitedIntent.id);
    assert.deepEqual(detail?.attempts, [], 'nothing written for the limited intent');
  });

  test('at most one success receipt per intent, even written directly', async () => {
    const intent = await newIntent();
    const row = { intent_id: intent.id, attempt_no: 1, lease_epoch: 1, kind: 'success' as const, external_id: 'a', url: null, error_class: null, error_message: null, executor_id: 'x', source: 'execute' as const };
    await h.tdb.db.insertInto('receipts').values(row).execute();
    await assert.rejects(h.tdb.db.insertInto('receipts').values({ ...row, external_id: 'b' }).execute(), /receipts_one_success/);
  });

  test('receipts cannot be updated, deleted or truncated', async () => {
    const intent = await newIntent();
    await h.tdb.db
      .insertInto('receipts')
      .values({ intent_id: intent.id, attempt_no: 1, lease_epoch: 1, kind: 'failure', external_id: null, url: null, error_class: 'permanent', error_message: 'x', executor_id: 'x', source: 'execute' })
      .execute();
    await assert.rejects(h.tdb.db.updateTable('receipts').set({ error_message: 'changed' }).where('intent_id', '=', intent.id).execute(), /append-only/);
    await assert.rejects(h.tdb.db.deleteFrom('receipts').where('intent_id', '=', intent.id).execute(), /append-only/);
    await assert.rejects(sql`TRUNCATE receipts CASCADE`.execute(h.tdb.db), /append-only/);
  });

  test('an approval is bound to the payload hash it approved', async () => {
    const intent = await newIntent({ channel: 'webhook', payload: { url: 'http://127.0.0.1:1/x', body: {} } });
    assert.equal(intent.state, 'pending_approval');
    await h.service.approve(intent.id, 'op');
    // a payload changed behind the approval's back must not run
    await h.tdb.db.updateTable('intents').set({ payload_hash: 'tampered' }).where('id', '=', intent.id).execute();
    assert.equal(await claimLease(h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['webhook:*'] }), null);
  });

  test('an approval that lapsed before the first lease expires the intent', async () => {
    const intent = await newIntent({ channel: 'webhook', payload: { url: 'http://127.0.0.1:1/y', body: {} } });
    await h.service.approve(intent.id, 'op');
    await h.tdb.db.updateTable('intents').set({ approval_expires_at: new Date(Date.now() - 1000) }).where('id', '=', intent.id).execute();
    assert.equal(await claimLease(h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['webhook:*'] }), null);
    await sweep(h.tdb.db, h.boss, { eligibleGraceSeconds: 5, reissueSeconds: 5, pendingTtlSeconds: 3600, batch: 100 });
    assert.equal(await stateOf(intent.id), 'expired');
  });

  test('a closed gate refuses the lease, and an attempt after a gate closed mid-claim', async () => {
    const intent = await newIntent({ account: 'gated' });
    await h.service.setGate('scripted:gated', { enabled: false }, 'op');
    assert.equal(await claimLease(h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['scripted:*'] }), null);
    await h.service.setGate('scripted:gated', { enabled: true }, 'op');
    const lease = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'x', ttlSeconds: 5, heldKeys: ['scripted:*'] });
    assert.ok(lease);
    await h.service.setGate('global', { enabled: false }, 'op');
    try {
      assert.equal(await recordAttempt(h.tdb.db, { intentId: intent.id, epoch: lease.epoch, executorId: 'x' }), null);
    } finally {
      await h.service.setGate('global', { enabled: true }, 'op');
    }
  });
});

describe('the executor pipeline', () => {
  test('success writes one receipt with the external id', async () => {
    scripted.state.execute = () => Promise.resolve({ externalId: 'ok-1', url: 'https://example.test/ok-1' });
    const intent = await newIntent();
    const before = scripted.state.executeCalls;
    assert.equal(await processTicket(h.executor('E1'), intent.id), 'succeeded');
    assert.equal(scripted.state.executeCalls - before, 1);
    const detail = await h.service.get(intent.id);
    assert.equal(detail?.receipts.length, 1);
    assert.equal(detail?.receipts[0]?.externalId, 'ok-1');
    assert.equal(detail?.attempts[0]?.outcome, 'succeeded');
    assert.equal(await processTicket(h.executor('E2'), intent.id), 'not_claimed', 'a second ticket finds nothing to do');
  });

  for (const [verdict, expected, calls] of [
    ['done', 'succeeded', 0],
    ['not_done', 'succeeded', 1],
    ['unknown', 'in_doubt', 0],
  ] as const) {
    test(`a takeover of an attempt without a receipt reconciles: "${verdict}" ends ${expected} with ${calls} more call(s)`, async () => {
      const intent = await newIntent();
      const a = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['scripted:*'] });
      assert.ok(a);
      assert.ok(await recordAttempt(h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
      // A dies here, mid-effect
      await expireLease(intent.id);
      scripted.state.reconcile = () =>
        Promise.resolve(verdict === 'done' ? { status: 'done', externalId: 'found-1', url: null } : verdict === 'not_done' ? { status: 'not_done' } : { status: 'unknown', reason: 'provider cannot say' });
      scripted.state.execute = () => Promise.resolve({ externalId: 'second-call' });
      const before = scripted.state.executeCalls;
      await processTicket(h.executor('B'), intent.id);
      assert.equal(scripted.state.executeCalls - before, calls);
      const detail = await h.service.get(intent.id);
      assert.equal(detail?.state, expected);
      assert.equal(detail?.attempts.filter((x) => x.finishedAt === null).length, 0, 'no attempt left open');
      if (verdict === 'done') assert.equal(detail?.receipts[0]?.source, 'reconcile');
    });
  }

  test('a connector without reconcile sends a taken-over attempt to in_doubt, never a blind second call', async () => {
    const intent = await newIntent({ channel: 'webhook', payload: { url: 'http://127.0.0.1:9/never', body: {} } });
    await h.service.approve(intent.id, 'op');
    const a = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['webhook:*'] });
    assert.ok(a);
    assert.ok(await recordAttempt(h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
    await expireLease(intent.id);
    assert.equal(await processTicket(h.executor('B'), intent.id), 'in_doubt');
    const detail = await h.service.get(intent.id);
    assert.equal(detail?.attempts.length, 1, 'no second attempt');
    assert.equal(detail?.receipts[0]?.kind, 'failure');
  });

  test('a webhook with a statusUrl reconciles against the receiver: not received -> exactly one call, received -> none', async () => {
    const sink = await startRecordingSink();
    try {
      for (const received of [false, true]) {
        const intent = await newIntent({ channel: 'webhook', payload: { url: `${sink.url}/w`, body: {}, statusUrl: sink.statusUrl } });
        await h.service.approve(intent.id, 'op');
        const a = await claimLease(h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['webhook:*'] });
        assert.ok(a);
        assert.ok(await recordAttempt(h.tdb.db, { intentId: intent.id, epoch: a.epoch, executorId: 'A' }));
        // A crashes either before its request left (received=false) or after the receiver got it
        if (received) {
          await fetch(`${sink.url}/w`, { method: 'POST', headers: { 'idempotency-key': intent.idempotencyKey }, body: '{}' });
        }
        await expireLease(intent.id);
        const outcome = await processTicket(h.executor('B'), intent.id);
        assert.equal(outcome, received ? 'reconciled_done' : 'reconciled_not_done_executed');
        assert.equal(sink.countByKey().get(intent.idempotencyKey), 1);
        assert.equal((await h.service.get(intent.id))?.state, 'succeeded');
      }
    } finally {
      await sink.close();
    }
  });

  test('retryable failures back off, then the intent is dead after max_attempts', async () => {
    scripted.state.execute = () => Promise.reject(new RetryableError('upstream 503'));
    const intent = await newIntent();
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      await makeRunnable(intent.id);
      outcomes.push(await processTicket(h.executor('E'), intent.id));
    }
    assert.deepEqual(outcomes, ['retry_scheduled', 'retry_scheduled', 'dead']);
    const detail = await h.service.get(intent.id);
    assert.equal(detail?.attempts.length, 3);
    assert.equal(detail?.receipts.length, 1);
    assert.match(detail?.lastError ?? '', /attempts exhausted \(3\/3\)/);
    const retried = await h.service.retry(intent.id, 'op');
    assert.equal(retried.state, 'approved');
    scripted.state.execute = () => Promise.resolve({ externalId: 'after-retry' });
    assert.equal(await processTicket(h.executor('E'), intent.id), 'succeeded');
  });

  test('a permanent failure is dead at once; an unknown outcome is in_doubt', async () => {
    scripted.state.execute = () => Promise.reject(new PermanentError('400 bad request'));
    const p = await newIntent();
    assert.equal(await processTicket(h.executor('E'), p.id), 'dead');
    scripted.state.execute = () => Promise.reject(new Error('socket hang up after send'));
    const u = await newIntent();
    assert.equal(await processTicket(h.executor('E'), u.id), 'in_doubt');
  });

  test("a provider 429 reschedules without burning an attempt and drains the bucket", async () => {
    scripted.state.execute = () => Promise.reject(new RateLimitedError('429', 5000));
    const intent = await newIntent({ account: 'limited' });
    assert.equal(await processTicket(h.executor('E'), intent.id), 'rescheduled');
    const row = await h.tdb.db.selectFrom('intents').selectAll().where('id', '=', intent.id).executeTakeFirstOrThrow();
    assert.equal(row.state, 'approved');
    assert.equal(row.failed_attempts, 0);
    assert.ok(row.run_after && new Date(row.run_after).getTime() > Date.now() + 3000);
    const bucket = await h.tdb.db.selectFrom('rate_buckets').selectAll().where('key', '=', 'scripted:limited').executeTakeFirstOrThrow();
    assert.ok(bucket.blocked_until && new Date(bucket.blocked_until).getTime() > Date.now() + 3000);
  });

  test('no rate-limit token reschedules for when one exists, never fails', async () => {
    scripted.state.execute = () => Promise.resolve({ externalId: 'x' });
    await h.tdb.db.updateTable('rate_buckets').set({ blocked_until: null, tokens: 1, refill_per_second: 2 }).where('key', '=', 'scripted:limited').execute();
    const first = await newIntent({ account: 'limited' });
    const second = await newIntent({ account: 'limited' });
    assert.equal(await processTicket(h.executor('E'), first.id), 'succeeded');
    assert.equal(await processTicket(h.executor('E'), second.id), 'rescheduled');
    const row = await h.tdb.db.selectFrom('intents').selectAll().where('id', '=', second.id).executeTakeFirstOrThrow();
    assert.equal(row.state, 'approved');
    assert.equal(row.attempt_count, 0);
    assert.ok(row.run_after && new Date(row.run_after).getTime() <= Date.now() + 1000, 'it comes back when the next token exists (2/s)');
  });

  test('an open breaker reschedules without calling the connector', async () => {
    scripted.state.execute = () => Promise.reject(new RetryableError('down'));
    const deps = h.executor('breaker-test');
    for (let i = 0; i < 2; i++) await processTicket(deps, (await newIntent({ account: 'flaky' })).id);
    const intent = await newIntent({ account: 'flaky' });
    const before = scripted.state.executeCalls;
    assert.equal(await processTicket(deps, intent.id), 'rescheduled');
    assert.equal(scripted.state.executeCalls, before);
    assert.equal(deps.breakers.snapshot().find((b) => b.key === 'scripted:flaky')?.state, 'open');
  });

  test('the sweeper re-tickets a lease that expired while running', async () => {
    const intent = await newIntent();
    assert.ok(await claimLease(h.tdb.db, { intentId: intent.id, owner: 'A', ttlSeconds: 1, heldKeys: ['scripted:*'] }));
    await expireLease(intent.id);
    const result = await sweep(h.tdb.db, h.boss, { eligibleGraceSeconds: 5, reissueSeconds: 5, pendingTtlSeconds: 3600, batch: 100 });
    assert.ok(result && result.reticketed >= 1);
    const tickets = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pgboss.job WHERE data->>'intentId' = ${intent.id}`.execute(h.tdb.db);
    assert.ok((tickets.rows[0]?.n ?? 0) >= 2, 'a new ticket exists beside the original');
    await sleep(0);
  });
});
