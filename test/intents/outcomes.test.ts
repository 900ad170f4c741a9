import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PermanentError, RateLimitedError, RetryableError } from '@handoff/connectors';
import { processTicket } from '@handoff/executor';
import { useIntentsHarness } from './harness.ts';

const t = useIntentsHarness();

describe("what each connector outcome does to the intent (the executor pipeline's writes)", () => {
  test('success writes one receipt with the external id', async () => {
    t.scripted.execute = () => Promise.resolve({ externalId: 'ok-1', url: 'https://example.test/ok-1' });
    const intent = await t.newIntent();
    const before = t.scripted.executeCalls;
    assert.equal(await processTicket(t.h.executor('E1'), intent.id), 'succeeded');
    assert.equal(t.scripted.executeCalls - before, 1);
    const detail = await t.h.service.get(intent.id);
    assert.equal(detail?.receipts.length, 1);
    assert.equal(detail?.receipts[0]?.externalId, 'ok-1');
    assert.equal(detail?.attempts[0]?.outcome, 'succeeded');
    assert.equal(
      await processTicket(t.h.executor('E2'), intent.id),
      'not_claimed',
      'a second ticket finds nothing to do',
    );
  });

  test('retryable failures back off, then the intent is dead after max_attempts', async () => {
    t.scripted.execute = () => Promise.reject(new RetryableError('upstream 503'));
    const intent = await t.newIntent();
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      await t.makeRunnable(intent.id);
      outcomes.push(await processTicket(t.h.executor('E'), intent.id));
    }
    assert.deepEqual(outcomes, ['retry_scheduled', 'retry_scheduled', 'dead']);
    const detail = await t.h.service.get(intent.id);
    assert.equal(detail?.attempts.length, 3);
    assert.equal(detail?.receipts.length, 1);
    assert.match(detail?.lastError ?? '', /attempts exhausted \(3\/3\)/);
    const retried = await t.h.service.retry(intent.id, 'op');
    assert.equal(retried.state, 'approved');
    t.scripted.execute = () => Promise.resolve({ externalId: 'after-retry' });
    assert.equal(await processTicket(t.h.executor('E'), intent.id), 'succeeded');
  });

  test('a permanent failure is dead at once; an unknown outcome is in_doubt', async () => {
    t.scripted.execute = () => Promise.reject(new PermanentError('400 bad request'));
    const p = await t.newIntent();
    assert.equal(await processTicket(t.h.executor('E'), p.id), 'dead');
    t.scripted.execute = () => Promise.reject(new Error('socket hang up after send'));
    const u = await t.newIntent();
    assert.equal(await processTicket(t.h.executor('E'), u.id), 'in_doubt');
  });

  test('a provider 429 reschedules without burning an attempt and drains the bucket', async () => {
    t.scripted.execute = () => Promise.reject(new RateLimitedError('429', 5000));
    const intent = await t.newIntent({ account: 'limited' });
    assert.equal(await processTicket(t.h.executor('E'), intent.id), 'rescheduled');
    const row = await t.h.tdb.db
      .selectFrom('intents')
      .selectAll()
      .where('id', '=', intent.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.state, 'approved');
    assert.equal(row.failed_attempts, 0);
    assert.ok(row.run_after && new Date(row.run_after).getTime() > Date.now() + 3000);
    const bucket = await t.h.tdb.db
      .selectFrom('rate_buckets')
      .selectAll()
      .where('key', '=', 'scripted:limited')
      .executeTakeFirstOrThrow();
    assert.ok(bucket.blocked_until && new Date(bucket.blocked_until).getTime() > Date.now() + 3000);
  });

  test('no rate-limit token reschedules for when one exists, never fails', async () => {
    t.scripted.execute = () => Promise.resolve({ externalId: 'x' });
    await t.h.tdb.db
      .updateTable('rate_buckets')
      .set({ blocked_until: null, tokens: 1, refill_per_second: 2 })
      .where('key', '=', 'scripted:limited')
      .execute();
    const first = await t.newIntent({ account: 'limited' });
    const second = await t.newIntent({ account: 'limited' });
    assert.equal(await processTicket(t.h.executor('E'), first.id), 'succeeded');
    assert.equal(await processTicket(t.h.executor('E'), second.id), 'rescheduled');
    const row = await t.h.tdb.db
      .selectFrom('intents')
      .selectAll()
      .where('id', '=', second.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.state, 'approved');
    assert.equal(row.attempt_count, 0);
    assert.ok(
      row.run_after && new Date(row.run_after).getTime() <= Date.now() + 1000,
      'it comes back when the next token exists (2/s)',
    );
  });

  test('an open breaker reschedules without calling the connector', async () => {
    t.scripted.execute = () => Promise.reject(new RetryableError('down'));
    const deps = t.h.executor('breaker-test');
    for (let i = 0; i < 2; i++) await processTicket(deps, (await t.newIntent({ account: 'flaky' })).id);
    const intent = await t.newIntent({ account: 'flaky' });
    const before = t.scripted.executeCalls;
    assert.equal(await processTicket(deps, intent.id), 'rescheduled');
    assert.equal(t.scripted.executeCalls, before);
    assert.equal(deps.breakers.snapshot().find((b) => b.key === 'scripted:flaky')?.state, 'open');
  });
});
