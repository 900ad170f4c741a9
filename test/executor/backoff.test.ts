import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffMs } from '@handoff/executor';

/** backoffMs (apps/executor/backoff.ts): exponential, capped, with "equal jitter". */
describe('backoffMs', () => {
  test('the delay doubles with each failed attempt, from the base delay', () => {
    const fixed = () => 1; // the random half at its top: the whole exponential delay
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffMs(n, 100, 10_000, fixed)),
      [100, 200, 400, 800],
    );
    assert.equal(backoffMs(0, 100, 10_000, fixed), 100, 'no failure yet counts as the first');
  });

  test('the delay never exceeds the maximum however many attempts failed', () => {
    assert.equal(
      backoffMs(30, 100, 5_000, () => 1),
      5_000,
    );
    assert.equal(
      backoffMs(1_000, 100, 5_000, () => 1),
      5_000,
      'no overflow to Infinity or NaN',
    );
  });

  test('half the delay is fixed and half random, so it never collapses to zero', () => {
    assert.equal(
      backoffMs(3, 100, 10_000, () => 0),
      200,
      'the fixed half of 400',
    );
    assert.equal(
      backoffMs(3, 100, 10_000, () => 0.5),
      300,
    );
    for (let i = 0; i < 200; i++) {
      const d = backoffMs(3, 100, 10_000);
      assert.ok(d >= 200 && d <= 400, `${d} within [200, 400]`);
    }
  });
});
