import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDb, createPool, type Db } from '@handoff/db';
import { configureBuckets, drainUntil, readBuckets, takeOrQueue, takeToken } from '@handoff/ratelimit';
import { createTestDatabase } from '../support/database.ts';

describe('central token buckets (Postgres)', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Db;

  before(async () => {
    testDb = await createTestDatabase();
    db = testDb.db;
  });
  after(async () => {
    await testDb.drop();
  });

  async function bucket(key: string) {
    return (await readBuckets(db)).find((b) => b.key === key);
  }

  test('capacity N allows exactly N immediate takes, then names the wait for the next token', async () => {
    await configureBuckets(db, { 'x:cap': { capacity: 3, refillPerSecond: 2 } });
    const taken = [];
    for (let i = 0; i < 3; i++) taken.push(await takeToken(db, 'x:cap'));
    assert.ok(
      taken.every((t) => t.ok),
      JSON.stringify(taken),
    );
    assert.deepEqual(
      taken.map((t) => (t.ok ? t.remaining : -1)),
      [2, 1, 0],
    );
    const refused = await takeToken(db, 'x:cap');
    assert.equal(refused.ok, false);
    // One token takes 1000 / 2 = 500 ms to refill, less the few ms the takes above took.
    assert.ok(!refused.ok && refused.retryAfterMs > 300 && refused.retryAfterMs <= 500, JSON.stringify(refused));
  });

  test('tokens refill with time, capped at capacity', async () => {
    await configureBuckets(db, { 'x:refill': { capacity: 2, refillPerSecond: 20 } });
    assert.ok((await takeToken(db, 'x:refill')).ok);
    assert.ok((await takeToken(db, 'x:refill')).ok);
    const refused = await takeToken(db, 'x:refill');
    assert.ok(!refused.ok && refused.retryAfterMs <= 50, JSON.stringify(refused));
    await sleep(refused.retryAfterMs + 10);
    assert.ok((await takeToken(db, 'x:refill')).ok, 'a token exists once retryAfterMs has passed');

    await sleep(300); // 6 tokens' worth of refill, but the bucket holds 2
    const headroom = await bucket('x:refill');
    assert.equal(headroom?.tokens, 2);
  });

  test('200 concurrent takes from two pools never exceed capacity', async () => {
    await configureBuckets(db, { 'x:race': { capacity: 20, refillPerSecond: 0.0001 } });
    const otherPool = createPool(testDb.url, { max: 10 });
    const other = createDb(otherPool);
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => takeToken(i % 2 === 0 ? db : other, 'x:race')),
      );
      const ok = results.filter((r) => r.ok);
      assert.equal(ok.length, 20);
      for (const r of results) {
        // The next token is ~10^4 s away (1 / 0.0001 per second).
        if (!r.ok) assert.ok(r.retryAfterMs > 9_000_000, JSON.stringify(r));
      }
    } finally {
      await other.destroy();
    }
  });

  test('drainUntil empties the bucket and blocks it until the given time', async () => {
    await configureBuckets(db, { 'x:drain': { capacity: 5, refillPerSecond: 100 } });
    const until = new Date(Date.now() + 800);
    assert.equal(await drainUntil(db, 'x:drain', until), true);
    // An earlier Retry-After never shortens a block already in place.
    assert.equal(await drainUntil(db, 'x:drain', new Date(Date.now() + 50)), true);

    const refused = await takeToken(db, 'x:drain');
    assert.ok(!refused.ok && refused.retryAfterMs > 500 && refused.retryAfterMs <= 800, JSON.stringify(refused));
    const headroom = await bucket('x:drain');
    assert.equal(headroom?.tokens, 0);
    assert.equal(headroom?.blockedUntil, until.toISOString());

    await sleep(200);
    assert.equal((await takeToken(db, 'x:drain')).ok, false, 'still blocked although tokens refilled');
    await sleep(until.getTime() - Date.now() + 20);
    assert.ok((await takeToken(db, 'x:drain')).ok, 'open again after the block');
    assert.equal((await bucket('x:drain'))?.blockedUntil, null);

    assert.equal(await drainUntil(db, 'x:nobucket', until), false);
  });

  test('configureBuckets keeps the tokens of existing buckets, fills new ones and removes unknown keys', async () => {
    await configureBuckets(db, { 'x:keep': { capacity: 10, refillPerSecond: 0.001 } });
    for (let i = 0; i < 3; i++) assert.ok((await takeToken(db, 'x:keep')).ok);

    await configureBuckets(db, {
      'x:keep': { capacity: 10, refillPerSecond: 0.001 },
      'x:new': { capacity: 4, refillPerSecond: 1 },
    });
    assert.equal(Math.floor((await bucket('x:keep'))!.tokens), 7, 'reconfiguring does not refill');
    assert.deepEqual(await bucket('x:new'), {
      key: 'x:new',
      capacity: 4,
      refillPerSecond: 1,
      tokens: 4,
      blockedUntil: null,
    });
    assert.equal(await bucket('x:drain'), undefined, 'keys the policy no longer lists are gone');

    await configureBuckets(db, { 'x:keep': { capacity: 5, refillPerSecond: 0.001 } });
    assert.equal((await bucket('x:keep'))!.tokens, 5, 'clamped to the new capacity');
    assert.equal(await bucket('x:new'), undefined);

    await configureBuckets(db, {});
    assert.deepEqual(await readBuckets(db), []);
    await assert.rejects(configureBuckets(db, { 'x:tiny': { capacity: 0.5, refillPerSecond: 1 } }), /at least 1/);
  });

  test('a key without a bucket is unlimited', async () => {
    assert.deepEqual(await takeToken(db, 'x:unlimited'), { ok: true, remaining: Infinity });
  });

  test('callers denied a token are given places in line one refill interval apart', async () => {
    // a slow refill (one token per 10 s) makes the few milliseconds between calls irrelevant
    await configureBuckets(db, { 'x:line': { capacity: 2, refillPerSecond: 0.1 } });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await takeOrQueue(db, 'x:line'));
    assert.deepEqual(
      results.slice(0, 2).map((r) => r.ok),
      [true, true],
    );
    const waits = results.slice(2).map((r) => (r.ok ? 0 : r.retryAfterMs));
    // about 10, 20, 30 s: each waiter comes back about when a token will be there for it
    for (let i = 0; i < waits.length; i++)
      assert.ok(Math.abs(waits[i]! - (i + 1) * 10_000) < 1000, `waiter ${i} waits ${waits[i]} ms`);
    // places in line take no tokens: once one token has refilled, exactly one take succeeds
    await sql`UPDATE rate_buckets SET refilled_at = refilled_at - interval '10 seconds' WHERE key = 'x:line'`.execute(
      db,
    );
    assert.equal((await takeToken(db, 'x:line')).ok, true);
    assert.equal((await takeToken(db, 'x:line')).ok, false);
  });

  test('during a 429 block the line starts when the block ends', async () => {
    await configureBuckets(db, { 'x:blocked': { capacity: 5, refillPerSecond: 0.5 } });
    await drainUntil(db, 'x:blocked', new Date(Date.now() + 5000));
    const first = await takeOrQueue(db, 'x:blocked');
    const second = await takeOrQueue(db, 'x:blocked');
    assert.ok(
      !first.ok && first.retryAfterMs > 4000 && first.retryAfterMs <= 5100,
      `first waits ${first.ok ? 0 : first.retryAfterMs} ms`,
    );
    assert.ok(
      !second.ok && second.retryAfterMs - first.retryAfterMs >= 1500,
      'the next place is a refill interval (2 s) later',
    );
  });
});
