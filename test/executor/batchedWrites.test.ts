import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBatchedWrites, createExecutorStore, type WriteStatements } from '@handoff/executor';
import { startPipeline, type PipelineHarness } from '../support/pipeline.ts';

/**
 * createBatchedWrites (apps/executor/batchedWrites.ts): the write-ahead attempts and the success
 * receipts of the intents in flight go to Postgres as one statement per group, each caller still
 * answered for its own row alone.
 */
type AttemptRequest = Parameters<WriteStatements['recordAttempt']>[0];
const attempt = (intentId: string, rateKey = 'scripted:default'): AttemptRequest => ({ intentId, epoch: 1, rateKey });
const unused = (): never => {
  throw new Error('not expected in this test');
};

describe('batched writes against scripted statements', () => {
  test('attempts asked for in one turn are written as one statement, each caller answered for its own intent', async () => {
    const statements: string[][] = [];
    const writes = createBatchedWrites({
      recordAttempts: (requests) => {
        statements.push(requests.map((r) => r.intentId));
        // `c` is fenced out (a newer epoch holds it): neither recorded nor limited
        const recorded = new Map(
          requests
            .filter((r) => r.intentId !== 'c')
            .map((r, i) => [r.intentId, { attemptNo: i + 1, startedAt: new Date() }]),
        );
        return Promise.resolve({ recorded, limited: [] });
      },
      recordAttempt: unused,
      appendSuccessReceipts: unused,
    });
    const answers = await Promise.all(['a', 'b', 'c', 'd'].map((id) => writes.recordAttempt(attempt(id))));
    assert.deepEqual(statements, [['a', 'b', 'c', 'd']]);
    assert.deepEqual(
      answers.map((a) => (a && 'attemptNo' in a ? a.attemptNo : a)),
      [1, 2, null, 3],
    );
  });

  test('requests made while a group is being written wait and form the next group', async () => {
    const statements: number[] = [];
    const writes = createBatchedWrites({
      recordAttempts: async (requests) => {
        statements.push(requests.length);
        await sleep(50);
        return {
          recorded: new Map(requests.map((r) => [r.intentId, { attemptNo: 1, startedAt: new Date() }])),
          limited: [],
        };
      },
      recordAttempt: unused,
      appendSuccessReceipts: unused,
    });
    const first = [writes.recordAttempt(attempt('1')), writes.recordAttempt(attempt('2'))];
    await sleep(10);
    const second = [writes.recordAttempt(attempt('3')), writes.recordAttempt(attempt('4'))];
    await sleep(10);
    const third = Array.from({ length: 5 }, (_, i) => writes.recordAttempt(attempt(`5-${i}`)));
    await Promise.all([...first, ...second, ...third]);
    assert.deepEqual(
      statements,
      [2, 2, 5],
      'two groups in flight at most; the third waited and took every later request',
    );
  });

  test('an intent whose bucket had no token at hand takes its token alone, one caller of a key at a time', async () => {
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    let acrossKeys = 0;
    const writes = createBatchedWrites({
      recordAttempts: (requests) => Promise.resolve({ recorded: new Map(), limited: [...requests] }),
      recordAttempt: async (request) => {
        const now = (running.get(request.rateKey) ?? 0) + 1;
        running.set(request.rateKey, now);
        most.set(request.rateKey, Math.max(most.get(request.rateKey) ?? 0, now));
        acrossKeys = Math.max(
          acrossKeys,
          [...running.values()].reduce((a, b) => a + b, 0),
        );
        await sleep(20);
        running.set(request.rateKey, now - 1);
        return { rateLimitedMs: 250 };
      },
      appendSuccessReceipts: unused,
    });
    const answers = await Promise.all([
      ...['a1', 'a2', 'a3'].map((id) => writes.recordAttempt(attempt(id, 'scripted:a'))),
      ...['b1', 'b2'].map((id) => writes.recordAttempt(attempt(id, 'scripted:b'))),
    ]);
    assert.deepEqual(
      answers,
      Array.from({ length: 5 }, () => ({ rateLimitedMs: 250 })),
      "the single write's answer reaches its caller",
    );
    assert.deepEqual(Object.fromEntries(most), { 'scripted:a': 1, 'scripted:b': 1 }, 'one token taker per key');
    assert.equal(acrossKeys, 2, "the keys' lines do not wait for each other");
  });

  test('success receipts are written as one statement, and a caller whose epoch was overtaken is told so alone', async () => {
    const statements: string[][] = [];
    const writes = createBatchedWrites({
      recordAttempts: unused,
      recordAttempt: unused,
      appendSuccessReceipts: (receipts) => {
        statements.push(receipts.map((r) => r.fence.intentId));
        return Promise.resolve(new Set(receipts.map((r) => r.fence.intentId).filter((id) => id !== 'stale')));
      },
    });
    const receipt = (intentId: string) => ({
      fence: { intentId, epoch: 1, channel: 'scripted' },
      attemptNo: 1,
      externalId: `ext-${intentId}`,
      url: null,
    });
    const written = await Promise.all(['x', 'stale', 'y'].map((id) => writes.appendSuccessReceipt(receipt(id))));
    assert.deepEqual(statements, [['x', 'stale', 'y']]);
    assert.deepEqual(written, [true, false, true]);
  });
});

describe('batched writes through the executor store, against Postgres', () => {
  let h: PipelineHarness;
  before(async () => {
    h = await startPipeline({ policy: { approval: { rules: [{ channel: 'webhook', requireApproval: false }] } } });
  });
  after(async () => {
    await h?.close();
  });

  test('grouped attempts and receipts fence each row by its own epoch: a holder overtaken by a takeover writes nothing', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const { intent } = await h.service.create(
        {
          channel: 'webhook',
          account: 'default',
          idempotencyKey: `grouped-${process.pid}-${n}`,
          payload: { url: 'http://127.0.0.1:9/hook', body: { n } },
        },
        'test',
      );
      ids.push(intent.id);
    }
    const a = createExecutorStore({ db: h.tdb.db, boss: h.boss, executorId: 'A' });
    const b = createExecutorStore({ db: h.tdb.db, boss: h.boss, executorId: 'B' });
    const leases = await a.claimLeases(ids, { ttlSeconds: 1, heldKeys: ['webhook:*'] });
    assert.equal(leases.length, 3);
    const attempts = await Promise.all(
      leases.map((l) => a.recordAttempt({ intentId: l.intent.id, epoch: l.epoch, rateKey: 'webhook:default' })),
    );
    assert.ok(
      attempts.every((x) => x && 'attemptNo' in x && x.attemptNo === 1),
      'each intent has its write-ahead attempt',
    );

    // the third intent's lease lapses and B takes it over
    await sleep(1_100);
    const overtaken = leases[2]!;
    const [taken] = await b.claimLeases([overtaken.intent.id], { ttlSeconds: 30, heldKeys: ['webhook:*'] });
    assert.ok(taken && taken.epoch > overtaken.epoch);

    const written = await Promise.all(
      leases.map((l) =>
        a.appendSuccessReceipt({
          fence: { intentId: l.intent.id, epoch: l.epoch, channel: 'webhook' },
          attemptNo: 1,
          externalId: `ext-${l.intent.id}`,
          url: null,
        }),
      ),
    );
    assert.deepEqual(written, [true, true, false]);
    const rows = await h.tdb.db
      .selectFrom('intents')
      .select(['id', 'state', 'lease_owner'])
      .where('id', 'in', ids)
      .execute();
    const byId = new Map(rows.map((r) => [r.id, r]));
    assert.equal(byId.get(leases[0]!.intent.id)?.state, 'succeeded');
    assert.equal(byId.get(leases[1]!.intent.id)?.state, 'succeeded');
    assert.deepEqual(
      { ...byId.get(overtaken.intent.id) },
      { id: overtaken.intent.id, state: 'running', lease_owner: 'B' },
      'the takeover is untouched',
    );
    const receipts = await h.tdb.db
      .selectFrom('receipts')
      .select(['intent_id', 'executor_id'])
      .where('intent_id', 'in', ids)
      .execute();
    assert.deepEqual(
      receipts.map((r) => r.executor_id).sort(),
      ['A', 'A'],
      'the store writes its own executor id on each receipt',
    );
  });
});
