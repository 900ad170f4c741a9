import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chatNormaliser, passthroughRewriter, responsesTranslator } from '@handoff/router';
import type { ChatNormaliserOptions, StreamRewriter } from '@handoff/router';

/**
 * The stream rewriters alone: the bytes a node streams in, the bytes the client gets out, chunk by
 * chunk, with no node and no router. test/router/quirks.test.ts checks the same through the router.
 */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const event = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`;
const chunk = (fields: Json): Json => ({
  id: 'c1',
  object: 'chat.completion.chunk',
  created: 1,
  model: '/models/qwen3-8b',
  ...fields,
});
const delta = (d: Json, finish: string | null = null): Json =>
  chunk({ choices: [{ index: 0, delta: d, finish_reason: finish }] });

/** Feeds `input` to the rewriter cut into pieces of `size` bytes (events split anywhere), and returns everything it wrote. */
async function run(rewriter: StreamRewriter, input: string, size = 7): Promise<string> {
  const bytes = Buffer.from(input);
  let out = rewriter.start();
  for (let i = 0; i < bytes.length; i += size) out += String(await rewriter.push(bytes.subarray(i, i + size)));
  return out + rewriter.end();
}

/** The data of each SSE event, parsed (`[DONE]` kept as a string). */
function dataOf(sse: string): (Json | string)[] {
  return sse
    .split('\n\n')
    .filter((block) => block !== '')
    .map(
      (block) =>
        block
          .split('\n')
          .find((l) => l.startsWith('data: '))
          ?.slice(6) ?? '',
    )
    .map((d) => (d === '[DONE]' ? d : (JSON.parse(d) as Json)));
}

function normaliser(opts: Partial<ChatNormaliserOptions> = {}): StreamRewriter {
  return chatNormaliser({
    servedModel: 'qwen3-8b',
    clientWantsUsage: false,
    countUsage: async () => assert.fail('no count was needed'),
    ...opts,
  });
}

describe('passthrough rewriter', () => {
  test('each chunk goes out as the very bytes that came in, and the usage on the way is kept for the log', async () => {
    const rewriter = passthroughRewriter();
    const first = Buffer.from(event(delta({ content: 'hi' })));
    const second = Buffer.from(
      event(chunk({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 3 } })) + 'data: [DONE]\n\n',
    );
    assert.equal(rewriter.push(first), first);
    assert.equal(rewriter.push(second), second);
    assert.deepEqual(rewriter.usage(), { prompt: 12, completion: 3 });
  });
});

describe('chat completions normaliser', () => {
  test('events split across chunks come out whole, naming the model the router sent', async () => {
    const input =
      event(delta({ role: 'assistant', content: '' })) +
      event(delta({ content: 'Hel' })) +
      event(delta({ content: 'lo' }, 'stop')) +
      'data: [DONE]\n\n';
    const out = await run(normaliser(), input, 5);
    const expected =
      event({ ...delta({ role: 'assistant', content: '' }), model: 'qwen3-8b' }) +
      event({ ...delta({ content: 'Hel' }), model: 'qwen3-8b' }) +
      event({ ...delta({ content: 'lo' }, 'stop'), model: 'qwen3-8b' }) +
      'data: [DONE]\n\n';
    assert.equal(out, expected);
  });

  test('an event already in the right shape is written byte for byte, without a JSON round trip', async () => {
    // Key order and spacing a JSON round trip would change: kept as the node sent them.
    const raw = '{"choices":[{"delta":{"content":"x"},"index":0}],  "model":"qwen3-8b"}';
    assert.equal(await run(normaliser(), `data: ${raw}\n\n`), `data: ${raw}\n\n`);
  });

  test('`reasoning` arrives as `reasoning_content`', async () => {
    const out = dataOf(await run(normaliser(), event(delta({ reasoning: 'thinking' }))));
    assert.deepEqual((out[0] as Json)['choices'][0]['delta'], { reasoning_content: 'thinking' });
  });

  test('the usage chunk only the router asked for is not shown to the client, but its tokens are kept', async () => {
    const rewriter = normaliser();
    const input =
      event(delta({ content: 'a' })) +
      event(chunk({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 } })) +
      'data: [DONE]\n\n';
    const out = dataOf(await run(rewriter, input));
    assert.equal(out.length, 2);
    assert.equal(out[1], '[DONE]');
    assert.deepEqual(rewriter.usage(), { prompt: 9, completion: 1 });
  });

  test('a client that asked for usage, from a node that sends none, gets one the router counted, just before [DONE]', async () => {
    const counted: string[] = [];
    const rewriter = normaliser({
      clientWantsUsage: true,
      countUsage: async (written) => {
        counted.push(written);
        return { prompt: 20, completion: 4 };
      },
    });
    const input =
      event(delta({ content: 'Hi ' })) +
      event(delta({ reasoning: 'hmm ' })) +
      event(delta({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '{"a":1}' } }] })) +
      'data: [DONE]\n\n';
    const out = dataOf(await run(rewriter, input));
    assert.deepEqual(counted, ['Hi hmm {"a":1}'], 'the completion is counted from everything the stream carried');
    assert.equal(out.at(-1), '[DONE]');
    assert.deepEqual(out.at(-2), {
      id: 'c1',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'qwen3-8b',
      choices: [],
      usage: { prompt_tokens: 20, completion_tokens: 4, total_tokens: 24 },
    });
    assert.deepEqual(rewriter.usage(), { prompt: 20, completion: 4 });
  });

  test("an error event from the node is passed on in OpenAI's shape", async () => {
    // llama.cpp's shape: the HTTP status as a number in `code` (OpenAI's `code` is a string or null).
    const out = dataOf(
      await run(normaliser(), event({ error: { message: 'out of memory', type: 'server_error', code: 500 } })),
    );
    assert.deepEqual(out, [{ error: { message: 'out of memory', type: 'upstream_error', code: null } }]);
  });

  test('a stream that fails mid-way ends with one error event naming the code', () => {
    assert.deepEqual(dataOf(normaliser().fail('idle_timeout', 'node a: no chunk for 50 ms')), [
      { error: { code: 'idle_timeout', message: 'node a: no chunk for 50 ms', type: 'upstream_error' } },
    ]);
  });
});

describe('responses translator', () => {
  const body = { model: 'alias', input: 'hi', stream: true };

  test('Chat Completions deltas become the Responses event sequence, ending in response.completed with the usage', async () => {
    const rewriter = responsesTranslator(body, 'qwen3-8b');
    const input =
      event(delta({ content: 'Hel' })) +
      event(delta({ content: 'lo' }, 'stop')) +
      event(chunk({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })) +
      'data: [DONE]\n\n';
    const out = await run(rewriter, input, 11);
    const types = dataOf(out).map((e) => (e as Json)['type']);
    assert.deepEqual(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const done = dataOf(out).at(-1) as Json;
    assert.equal(done['response']['output'][0]['content'][0]['text'], 'Hello');
    assert.match(out, /^event: response\.created\n/, 'each event is named as the Responses API names it');
    assert.deepEqual(rewriter.usage(), { prompt: 5, completion: 2 });
  });

  test('an error event from the node fails the stream (for the router to end it with an error event)', async () => {
    const rewriter = responsesTranslator(body, 'qwen3-8b');
    rewriter.start();
    assert.throws(() => rewriter.push(Buffer.from(event({ error: { message: 'boom' } }))), { name: 'UpstreamError' });
    assert.deepEqual(dataOf(rewriter.fail('dropped', 'node a: gone')), [
      { type: 'error', code: 'dropped', message: 'node a: gone', param: null, sequence_number: 2 },
    ]);
  });
});
