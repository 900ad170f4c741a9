import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { groupRequests } from '@handoff/db';

describe('groupRequests (group commit)', () => {
  test('requests made while a group is being written form the next group; each gets its own answer', async () => {
    const groups: number[][] = [];
    let release: () => void = () => {};
    const firstGroupHeld = new Promise<void>((r) => (release = r));
    const double = groupRequests<number, number>(
      async (xs) => {
        groups.push([...xs]);
        if (groups.length === 1) await firstGroupHeld;
        return xs.map((x) => x * 2);
      },
      { maxConcurrent: 1 },
    );
    const first = double(1);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // the first group is being written: these wait and travel together
    const rest = [2, 3, 4, 5].map((x) => double(x));
    release();
    assert.deepEqual(await Promise.all([first, ...rest]), [2, 4, 6, 8, 10]);
    assert.deepEqual(groups, [[1], [2, 3, 4, 5]]);
  });

  test('an Error answers only its own request; a failed write rejects only its group', async () => {
    const check = groupRequests<number, number>(async (xs) => xs.map((x) => (x < 0 ? new Error(`negative: ${x}`) : x)));
    const results = await Promise.allSettled([check(1), check(-1), check(2)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );

    let calls = 0;
    const flaky = groupRequests<number, number>(async (xs) => {
      calls++;
      if (calls === 1) throw new Error('connection lost');
      return [...xs];
    });
    await assert.rejects(flaky(1), /connection lost/);
    assert.equal(await flaky(2), 2, 'the next group is written normally');
  });

  test('no more than maxBatch requests share one group', async () => {
    const sizes: number[] = [];
    const echo = groupRequests<number, number>(
      async (xs) => {
        sizes.push(xs.length);
        return [...xs];
      },
      { maxBatch: 3, maxConcurrent: 1 },
    );
    await Promise.all(Array.from({ length: 10 }, (_, i) => echo(i)));
    assert.ok(
      sizes.every((n) => n <= 3),
      `group sizes ${sizes.join(',')}`,
    );
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      10,
    );
  });
});
