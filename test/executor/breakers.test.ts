import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PolicyInput } from '@handoff/contracts';
import {
  deployConnector,
  PermanentError,
  RateLimitedError,
  RetryableError,
  webhookConnector,
} from '@handoff/connectors';
import { BreakerRegistry, startExecutor, type RunningExecutor } from '@handoff/executor';
import { buildLiveReport } from '@handoff/intents';
import { quietLog, startPipeline, withLoopbackReceivers, type PipelineHarness } from '../support/pipeline.ts';
import { startRecordingSink, type RecordingSink } from '../support/recordingSink.ts';
import { waitFor } from '../support/stack.ts';

/**
 * Webhook breakers are per account and receiver (decision 52): the production executor loop, the
 * real webhook connector and Postgres, with two receivers of one account, one answering 500.
 */
const policy: PolicyInput = withLoopbackReceivers({
  approval: { rules: [{ channel: 'webhook', account: 'default', requireApproval: false }] },
  retry: { maxAttempts: 10, baseDelayMs: 50, maxDelayMs: 100 },
  // stays open for the whole test once tripped
  breaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 },
  // next to no refill: the tokens taken show which bucket each call drew from
  rateLimits: { 'webhook:default': { capacity: 1000, refillPerSecond: 0.001 } },
});

let h: PipelineHarness;
let dead: RecordingSink;
let healthy: RecordingSink;
let executor: RunningExecutor;
let home: string;
let n = 0;

before(async () => {
  [dead, healthy] = await Promise.all([startRecordingSink(), startRecordingSink()]);
  dead.respondWith({ status: 500, body: 'down' });
  h = await startPipeline({ policy });
  home = mkdtempSync(join(tmpdir(), 'handoff-breakers-'));
  writeFileSync(join(home, 'policy.json'), JSON.stringify(policy));
  executor = await startExecutor({
    home,
    databaseUrl: h.tdb.url,
    executorId: 'breakers',
    channels: ['webhook'],
    heartbeatIntervalMs: 100,
    log: quietLog,
  });
});

after(async () => {
  await executor?.stop();
  await h?.close();
  await Promise.all([dead?.close(), healthy?.close()]);
  if (home) rmSync(home, { recursive: true, force: true });
});

async function send(to: RecordingSink): Promise<{ id: string; key: string; at: number }> {
  const key = `breakers-${process.pid}-${++n}`;
  const at = Date.now();
  const { intent } = await h.service.create(
    {
      channel: 'webhook',
      account: 'default',
      idempotencyKey: key,
      payload: { url: `${to.url}/hook?n=${n}`, body: { n } },
    },
    'test',
  );
  return { id: intent.id, key, at };
}

const row = (id: string) => h.tdb.db.selectFrom('intents').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('webhook breakers', () => {
  test("one dead receiver opens only its own breaker: the same account's other receiver keeps succeeding at once", async () => {
    const deadKey = `webhook:default@127.0.0.1:${dead.port}`;
    const healthyKey = `webhook:default@127.0.0.1:${healthy.port}`;

    const failing = await Promise.all([send(dead), send(dead), send(dead)]);
    // once the breaker opens, the dead receiver's intents are put off, not failed
    await waitFor(
      'every dead-receiver intent to be rescheduled behind an open breaker',
      async () => {
        const rows = await Promise.all(failing.map((f) => row(f.id)));
        return rows.every((r) => r.state === 'approved' && r.state_reason?.startsWith('breaker open for'));
      },
      10_000,
      50,
    );
    for (const f of failing) {
      const r = await row(f.id);
      assert.ok(
        r.run_after && new Date(r.run_after).getTime() > Date.now() + 30_000,
        'it comes back when the breaker lets a trial through',
      );
      assert.ok(r.failed_attempts < r.max_attempts);
    }
    const deadCalls = dead.requests.length;

    const fine = await Promise.all(Array.from({ length: 5 }, () => send(healthy)));
    for (const f of fine) {
      const done = await waitFor(
        `healthy intent ${f.id} to succeed`,
        async () => {
          const r = await row(f.id);
          return r.state === 'succeeded' ? r : null;
        },
        5_000,
        20,
      );
      const took = new Date(done.updated_at).getTime() - f.at;
      assert.ok(took < 3_000, `a healthy receiver's intent took ${took} ms beside an open breaker`);
    }
    const counts = healthy.countByKey();
    for (const f of fine) assert.equal(counts.get(f.key), 1);
    assert.equal(dead.requests.length, deadCalls, 'nothing reaches the dead receiver while its breaker is open');

    // the heartbeat publishes each receiver's breaker under its own key
    const report = await waitFor(
      "a heartbeat showing both receivers' breakers",
      async () => {
        const r = await buildLiveReport(h.tdb.db);
        return r.breakers.some((b) => b.key === healthyKey && b.executorId === 'breakers') ? r : null;
      },
      5_000,
      50,
    );
    for (const f of failing) assert.equal((await row(f.id)).state_reason, `breaker open for ${deadKey}`);
    const mine = report.breakers.filter((b) => b.executorId === 'breakers');
    assert.equal(mine.find((b) => b.key === deadKey)?.state, 'open');
    assert.deepEqual(
      mine.filter((b) => b.key === healthyKey).map((b) => [b.state, b.failures]),
      [['closed', 0]],
    );
    assert.ok(!mine.some((b) => b.key === 'webhook:default'), 'no account-wide webhook breaker');
    // the rate bucket stays the account's: every call to either receiver took its token from it
    const bucket = report.rateLimits.find((b) => b.key === 'webhook:default');
    assert.ok(bucket, 'webhook:default bucket');
    const calls = dead.requests.length + healthy.requests.length;
    assert.ok(bucket.tokens <= 1000 - calls + 1, `bucket holds ${bucket.tokens} after ${calls} calls`);
    assert.ok(!report.rateLimits.some((b) => b.key.includes('@')), 'no per-receiver bucket');
  });

  test('a payload names its receiver as host:port only, and deploy does so for its webhook kind, never for GitHub', () => {
    assert.equal(
      webhookConnector.breakerTarget?.({ url: 'https://hooks.example/a/b?token=s3cret', method: 'POST', body: {} }),
      'hooks.example:443',
    );
    assert.equal(
      webhookConnector.breakerTarget?.({ url: 'http://hooks.example:8080/', method: 'POST', body: {} }),
      'hooks.example:8080',
    );
    assert.equal(webhookConnector.breakerTarget?.({ url: 'http://[::1]/x', method: 'POST', body: {} }), '[::1]:80');
    assert.equal(
      deployConnector.breakerTarget?.({ kind: 'webhook', url: 'https://deploy.example/hooks/api' }),
      'deploy.example:443',
    );
    assert.equal(deployConnector.breakerTarget?.({ kind: 'github', owner: 'o', repo: 'r', ref: 'main' }), undefined);
  });
});

describe('BreakerRegistry', () => {
  const settings = {
    errorThresholdPercentage: 50,
    volumeThreshold: 2,
    resetTimeoutMs: 300,
    rollingCountTimeoutMs: 10_000,
  };

  test('only failures that say the provider is unhealthy count: permanent errors and 429s never open a breaker', async () => {
    const breakers = new BreakerRegistry(() => settings);
    try {
      for (let i = 0; i < 5; i++) {
        await assert.rejects(
          breakers.fire('webhook:a', () => Promise.reject(new PermanentError('400 bad payload'))),
          PermanentError,
        );
        await assert.rejects(
          breakers.fire('webhook:a', () => Promise.reject(new RateLimitedError('429', 1000))),
          RateLimitedError,
        );
      }
      assert.equal(breakers.retryAt('webhook:a'), null, 'still closed');
      assert.deepEqual(
        breakers.snapshot().map((b) => [b.key, b.state]),
        [['webhook:a', 'closed']],
      );
      await assert.rejects(breakers.fire('webhook:b', () => Promise.reject(new RetryableError('503'))));
      await assert.rejects(breakers.fire('webhook:b', () => Promise.reject(new Error('socket hang up'))));
      assert.ok(breakers.retryAt('webhook:b'), 'retryable and unknown outcomes open it');
    } finally {
      breakers.shutdown();
    }
  });

  test('an open breaker refuses calls without making them, names when a trial goes through, and a good trial closes it', async () => {
    const breakers = new BreakerRegistry(() => settings);
    try {
      for (let i = 0; i < 2; i++)
        await assert.rejects(breakers.fire('webhook:a', () => Promise.reject(new RetryableError('503'))));
      const openedAt = Date.now();
      const at = breakers.retryAt('webhook:a');
      assert.ok(at, 'open');
      assert.ok(
        at.getTime() > openedAt && at.getTime() <= openedAt + 350,
        `trial at +${at.getTime() - openedAt} ms for a 300 ms reset`,
      );
      let made = 0;
      await assert.rejects(
        breakers.fire('webhook:a', () => Promise.resolve(made++)),
        (err: unknown) => (err as { code?: string }).code === 'EOPENBREAKER',
      );
      assert.equal(made, 0, 'an open breaker makes no call');
      assert.equal(breakers.snapshot()[0]?.state, 'open');

      await sleep(Math.max(0, at.getTime() - Date.now()) + 20);
      assert.equal(breakers.snapshot()[0]?.state, 'half_open');
      await breakers.fire('webhook:a', () => Promise.resolve(made++));
      assert.equal(made, 1);
      assert.equal(breakers.retryAt('webhook:a'), null, 'closed after a good trial');
    } finally {
      breakers.shutdown();
    }
  });

  test('a breaker unused for a rolling window is dropped unless it is holding calls back', async () => {
    const breakers = new BreakerRegistry(() => ({
      errorThresholdPercentage: 50,
      volumeThreshold: 1,
      resetTimeoutMs: 60_000,
      rollingCountTimeoutMs: 1000,
    }));
    try {
      await breakers.fire('webhook:a@idle.example:443', () => Promise.resolve('ok'));
      await assert.rejects(
        breakers.fire('webhook:a@down.example:443', () => Promise.reject(new RetryableError('500'))),
      );
      assert.ok(breakers.retryAt('webhook:a@down.example:443'), 'open');
      await sleep(1_100);
      await breakers.fire('webhook:a@busy.example:443', () => Promise.resolve('ok'));
      assert.deepEqual(
        breakers
          .snapshot()
          .map((b) => [b.key, b.state])
          .sort(),
        [
          ['webhook:a@busy.example:443', 'closed'],
          ['webhook:a@down.example:443', 'open'],
        ],
      );
    } finally {
      breakers.shutdown();
    }
  });
});
