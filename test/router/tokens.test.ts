import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { FleetConfig } from '@handoff/contracts';
import { byteBound, countChatTokens, createRouter, createTokenCounter } from '@handoff/router';

/**
 * Token counts never stop the event loop: they run in worker threads with a time and a size cap,
 * and past either the count is the byte bound (never less than the exact count).
 */

// A time cap generous for a loaded machine (a worker's cold start is part of it), still far below
// what the pathological text below would take.
const counter = createTokenCounter({ timeoutMs: 5000, maxChars: 1024 * 1024, prewarm: true });
after(() => counter.close());

/** Runs `fn` while measuring the event loop's worst delay, in ms. */
async function loopDelayDuring<T>(fn: () => Promise<T>): Promise<{ value: T; maxDelayMs: number }> {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  try {
    const value = await fn();
    return { value, maxDelayMs: h.max / 1e6 };
  } finally {
    h.disable();
  }
}

describe('tokenization off the event loop', () => {
  test('ordinary text is counted exactly by the worker', async () => {
    const counted = await counter.count(['hello world', 'The quick brown fox jumps over the lazy dog.']);
    assert.equal(counted.exact, true);
    assert.deepEqual(counted.tokens, [2, 10]);
  });

  test('a whitespace-free run that would take the tokenizer minutes gets the byte bound at the time cap, and the loop keeps turning', async () => {
    const text = 'a'.repeat(400_000); // quadratic in gpt-tokenizer: over a minute on the event loop
    const started = performance.now();
    const { value, maxDelayMs } = await loopDelayDuring(() => counter.count([text]));
    const tookMs = performance.now() - started;
    assert.equal(value.exact, false);
    assert.equal(value.fallback, 'timeout');
    assert.deepEqual(value.tokens, [400_000]);
    assert.ok(tookMs < 20_000, `answered after the time cap, not after tokenizing (${Math.round(tookMs)} ms)`);
    process.stdout.write(
      `# 400 KB whitespace-free: byte bound after ${Math.round(tookMs)} ms, worst event-loop delay ${maxDelayMs.toFixed(1)} ms\n`,
    );
    // the stuck worker was terminated and replaced: the next count is exact again
    const next = await counter.count(['hello world']);
    assert.deepEqual(next, { tokens: [2], exact: true });
  });

  test('a text past the size cap is the byte bound without tokenizing at all', async () => {
    const text = 'é'.repeat(600_000) + 'x'.repeat(600_000);
    const counted = await counter.count([text]);
    assert.equal(counted.fallback, 'too_large');
    assert.deepEqual(counted.tokens, [byteBound(text)]);
    assert.equal(byteBound(text), 1_800_000, 'the bound counts UTF-8 bytes, not characters');
  });

  test('the byte bound is never below the exact count (chat messages and tools)', async () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: [{ type: 'text', text: '日本語のテキスト and emoji 🎉🎉 and code: fn(x) => x ** 2;' }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
      },
    ];
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }];
    const exact = await countChatTokens(counter, messages, tools);
    const tiny = createTokenCounter({ maxChars: 1, timeoutMs: 5000 });
    const bound = await countChatTokens(tiny, messages, tools);
    await tiny.close();
    assert.equal(exact.exact, true);
    assert.equal(bound.exact, false);
    assert.ok(bound.tokens >= exact.tokens, `bound ${bound.tokens} >= exact ${exact.tokens}`);
  });

  test('jobs beyond the queue cap get the bound at once; a closed counter answers with the bound', async () => {
    const small = createTokenCounter({ workers: 1, maxQueued: 1, timeoutMs: 5000 });
    const busy = small.count(['a'.repeat(200_000)]); // occupies the only worker
    const queued = small.count(['hello']);
    const refused = await small.count(['hello']);
    assert.equal(refused.fallback, 'queue_full');
    await small.close();
    assert.equal((await busy).fallback, 'closed');
    assert.equal((await queued).fallback, 'closed');
    assert.equal((await small.count(['x'])).fallback, 'closed');
  });
});

describe('router node status', () => {
  test('GET /v1/router/nodes shows node URLs without user-info', () => {
    const fleet = FleetConfig.parse({
      nodes: [
        {
          id: 'n1',
          baseUrl: 'http://alice:s3cret-pass@127.0.0.1:9/v1',
          kind: 'vllm',
          models: [{ id: 'm', contextWindow: 8192 }],
        },
      ],
    });
    const router = createRouter({ fleet: () => fleet, log: pino({ level: 'silent' }), probeCheckMs: 0 });
    try {
      const [status] = router.nodes();
      assert.equal(status?.baseUrl, 'http://127.0.0.1:9/v1');
      assert.doesNotMatch(JSON.stringify(router.nodes()), /alice|s3cret/);
    } finally {
      void router.close();
    }
  });
});
