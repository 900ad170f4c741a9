import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { Connector } from '@handoff/connectors';
import { runTicketBatch, type PipelineDeps, type TicketOutcome } from '@handoff/executor';
import { startPipeline, type PipelineHarness } from '../support/pipeline.ts';

/**
 * runTicketBatch (apps/executor/pipeline.ts): the one loop the executor's pg-boss worker and the
 * tests both run. A batch of tickets is leased in one statement; each leased intent then goes
 * through the pipeline on its own (apps/executor/runLease.ts).
 */

/** Each intent's payload names how its effect behaves: `hold` waits until the test lets it finish. */
const held = new Map<string, () => void>();
const calls: string[] = [];
const scripted: Connector<{ name: string; hold?: boolean }> = {
  name: 'scripted',
  externalEffect: true,
  needsCredentials: false,
  payloadSchema: z.object({ name: z.string(), hold: z.boolean().optional() }),
  async execute(intent) {
    calls.push(intent.payload.name);
    if (intent.payload.hold) await new Promise<void>((resolve) => held.set(intent.payload.name, resolve));
    return { externalId: `ext-${intent.payload.name}` };
  },
};

let h: PipelineHarness;
let n = 0;

before(async () => {
  h = await startPipeline({
    connectors: [scripted],
    policy: {
      approval: {
        rules: [
          { channel: 'scripted', requireApproval: false },
          { channel: 'scripted', account: 'manual', requireApproval: true },
        ],
      },
      rateLimits: { 'scripted:limited': { capacity: 1, refillPerSecond: 0.1 } },
    },
  });
});
after(async () => {
  for (const release of held.values()) release();
  await h?.close();
});

async function newIntent(name: string, opts: { account?: string; hold?: boolean } = {}): Promise<string> {
  const { intent } = await h.service.create(
    {
      channel: 'scripted',
      account: opts.account ?? 'default',
      idempotencyKey: `batch-${process.pid}-${++n}`,
      payload: { name, ...(opts.hold ? { hold: true } : {}) },
    },
    'test',
  );
  return intent.id;
}

const row = (id: string) =>
  h.tdb.db
    .selectFrom('intents')
    .select(['state', 'lease_owner', 'state_reason'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
const pending = Symbol('pending');
const settledYet = <T>(p: Promise<T>) =>
  Promise.race([p, new Promise<typeof pending>((r) => setImmediate(() => r(pending)))]);

describe('runTicketBatch', () => {
  test('a batch leases only the intents eligible here, answers the rest not_claimed, and runs each lease on its own', async () => {
    const slow = await newIntent('slow', { hold: true });
    const fast = await newIntent('fast');
    const waiting = await newIntent('waiting', { account: 'manual' });
    const batch = await runTicketBatch(h.executor('E'), [slow, fast, waiting]);

    assert.deepEqual([...batch.runs.keys()].sort(), [slow, fast].sort(), 'an intent awaiting approval is not leased');
    // resolved once the leases were taken: both are this executor's before either effect ends
    assert.equal((await row(slow)).lease_owner, 'E');
    assert.equal(await batch.runs.get(fast), 'succeeded', 'a fast effect is not held up by a slow one');
    assert.equal(await settledYet(batch.runs.get(slow)!), pending);
    assert.equal(await settledYet(batch.settled), pending, 'the batch settles with its last run');

    held.get('slow')!();
    assert.deepEqual(
      await batch.settled,
      new Map<string, TicketOutcome>([
        [slow, 'succeeded'],
        [fast, 'succeeded'],
        [waiting, 'not_claimed'],
      ]),
    );
    assert.equal((await row(waiting)).state, 'pending_approval');
  });

  test('a claim that fails rejects the batch and leases nothing', async () => {
    const id = await newIntent('claim-fails');
    const deps = h.executor('E');
    const failing: PipelineDeps = {
      ...deps,
      store: { ...deps.store, claimLeases: () => Promise.reject(new Error('Postgres unreachable')) },
    };
    await assert.rejects(runTicketBatch(failing, [id]), /Postgres unreachable/);
    const after = await row(id);
    assert.equal(after.state, 'approved');
    assert.equal(after.lease_owner, null);
  });

  test('Postgres trouble after the claim is an `error` outcome, never a rejection, and the lease is left to expire', async () => {
    const id = await newIntent('write-fails');
    const deps = h.executor('E');
    const failing: PipelineDeps = {
      ...deps,
      store: { ...deps.store, recordAttempt: () => Promise.reject(new Error('connection reset')) },
    };
    const before = calls.length;
    const { settled } = await runTicketBatch(failing, [id]);
    assert.equal((await settled).get(id), 'error');
    assert.equal(calls.length, before, 'no effect without its write-ahead attempt');
    const after = await row(id);
    assert.equal(after.state, 'running', 'still leased: a takeover reconciles once the lease expires');
    assert.equal(after.lease_owner, 'E');
  });

  test('a leased intent that may not start (a gate closed, or the executor is draining) is put back untouched', async () => {
    const id = await newIntent('gated');
    const before = calls.length;
    const { settled } = await runTicketBatch(h.executor('E', { mayStart: () => false }), [id]);
    assert.equal((await settled).get(id), 'paused');
    assert.equal(calls.length, before, 'the connector was not called');
    assert.deepEqual(
      { ...(await row(id)) },
      { state: 'approved', lease_owner: null, state_reason: 'paused: gate closed or executor draining' },
    );
  });

  test("an intent rescheduled for later asks the executor to wake its channel's worker when it is due", async () => {
    const wakes: { channel: string; at: Date }[] = [];
    const deps = h.executor('E', { wakeAt: (channel, at) => wakes.push({ channel, at }) });
    const first = await newIntent('limited-1', { account: 'limited' });
    const second = await newIntent('limited-2', { account: 'limited' });
    assert.equal((await (await runTicketBatch(deps, [first])).settled).get(first), 'succeeded');
    const startedAt = Date.now();
    assert.equal(
      (await (await runTicketBatch(deps, [second])).settled).get(second),
      'rescheduled',
      'no token: put off, not failed',
    );
    assert.equal(wakes.length, 1);
    assert.equal(wakes[0]!.channel, 'scripted');
    const inMs = wakes[0]!.at.getTime() - startedAt;
    assert.ok(inMs > 5_000 && inMs <= 11_000, `woken when the next token exists (${inMs} ms at 0.1 token/s)`);
  });
});
