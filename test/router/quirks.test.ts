import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { pino } from 'pino';
import { FleetConfig } from '@handoff/contracts';
import { FAKE_STYLES, startFakeOpenAI } from '../fakes/openaiServer.ts';
import type { FakeOpenAI, FakeOpenAIOptions } from '../fakes/openaiServer.ts';
import { mountRouter } from './harness.ts';
import type { MountedRouter } from './harness.ts';

/**
 * Per-server quirks (libs/router/quirks.ts): the fake upstream behaves like each `kind` (its
 * FAKE_STYLES entry) and the client must see one OpenAI-compatible server whatever the kind.
 */

const silent = pino({ level: 'silent' });
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Kind = keyof typeof FAKE_STYLES;

const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  while (open.length > 0)
    await open
      .pop()
      ?.close()
      .catch(() => {});
});

async function fakeOf(kind: Kind, extra: Partial<FakeOpenAIOptions> = {}): Promise<FakeOpenAI> {
  const f = await startFakeOpenAI({ models: [{ id: 'm', contextWindow: 8192 }], style: FAKE_STYLES[kind], ...extra });
  open.push(f);
  return f;
}

async function harness(
  nodes: { id: string; kind: Kind; fake: FakeOpenAI; contextWindow?: number }[],
): Promise<MountedRouter> {
  const fleet = FleetConfig.parse({
    nodes: nodes.map((n) => ({
      id: n.id,
      kind: n.kind,
      baseUrl: n.fake.url,
      models: [{ id: 'm', contextWindow: n.contextWindow ?? 8192 }],
    })),
  });
  const mounted = await mountRouter({ fleet: () => fleet, log: silent, memory: async () => 64, probeCheckMs: 0 });
  open.push(mounted);
  return mounted;
}

const hi = [{ role: 'user' as const, content: 'hello there' }];
const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
  },
};

/** The data lines of an SSE body, parsed ([DONE] kept as a string). */
async function events(res: Response): Promise<(Json | string)[]> {
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6))
    .map((d) => (d === '[DONE]' ? d : (JSON.parse(d) as Json)));
}

describe('router quirks: requests as each kind needs them', () => {
  for (const kind of ['mlx', 'ollama', 'lmstudio', 'llamacpp'] as const) {
    test(`${kind}: max_completion_tokens is sent as max_tokens, so the limit holds`, async () => {
      const f = await fakeOf(kind);
      const h = await harness([{ id: 'n', kind, fake: f }]);
      const r = await h.client.chat.completions.create({ model: 'm', messages: hi, max_completion_tokens: 5 });
      assert.equal(f.requests[0]?.body['max_tokens'], 5);
      assert.equal(f.requests[0]?.body['max_completion_tokens'], undefined);
      assert.equal(r.choices[0]?.finish_reason, 'length', 'the node honoured the limit');
      assert.equal(r.choices[0]?.message.content, 'echo:');
    });
  }

  test('vllm and openai: max_completion_tokens is passed as it came', async () => {
    for (const kind of ['vllm', 'openai'] as const) {
      const f = await fakeOf(kind);
      const h = await harness([{ id: 'n', kind, fake: f }]);
      await h.client.chat.completions.create({ model: 'm', messages: hi, max_completion_tokens: 5 });
      assert.equal(f.requests[0]?.body['max_completion_tokens'], 5, kind);
      assert.equal(f.requests[0]?.body['max_tokens'], undefined, kind);
    }
  });

  test('mlx: top-level nulls are dropped (MLX refuses them)', async () => {
    const f = await fakeOf('mlx');
    const h = await harness([{ id: 'n', kind: 'mlx', fake: f }]);
    const res = await h.post('/v1/chat/completions', { model: 'm', messages: hi, temperature: null, max_tokens: null });
    assert.equal(res.status, 200, await res.clone().text());
    assert.ok(!('temperature' in (f.requests[0]?.body ?? {})));
  });

  test('lmstudio: response_format json_object becomes a json_schema that accepts any object', async () => {
    const f = await fakeOf('lmstudio');
    const h = await harness([{ id: 'n', kind: 'lmstudio', fake: f }]);
    await h.client.chat.completions.create({ model: 'm', messages: hi, response_format: { type: 'json_object' } });
    assert.deepEqual(f.requests[0]?.body['response_format'], {
      type: 'json_schema',
      json_schema: { name: 'json_object', schema: { type: 'object' } },
    });
  });

  test('llamacpp without --jinja: tools fail over to a node that can take them, without counting a failure', async () => {
    const cpp = await fakeOf('llamacpp');
    const other = await fakeOf('vllm');
    const h = await harness([
      { id: 'cpp', kind: 'llamacpp', fake: cpp },
      { id: 'gpu', kind: 'vllm', fake: other },
    ]);
    const { data, response } = await h.client.chat.completions
      .create({ model: 'm', messages: hi, tools: [weatherTool] })
      .withResponse();
    assert.equal(data.choices[0]?.message.tool_calls?.[0]?.type, 'function');
    assert.equal(response.headers.get('x-handoff-node'), 'gpu');
    assert.equal(response.headers.get('x-handoff-escalated'), 'unsupported');
    const cppStatus = h.router.nodes().find((n) => n.id === 'cpp');
    assert.equal(cppStatus?.consecutiveFailures, 0);
    assert.equal(cppStatus?.breaker, 'closed');

    const alone = await harness([{ id: 'cpp', kind: 'llamacpp', fake: cpp }]);
    const res = await alone.post('/v1/chat/completions', { model: 'm', messages: hi, tools: [weatherTool] });
    assert.equal(res.status, 503);
    const body = (await res.json()) as Json;
    assert.equal(body['error']['details']['attempts'][0]['reason'], 'unsupported');
    assert.match(body['error']['details']['attempts'][0]['message'], /--jinja/);
  });
});

describe('router quirks: answers in one shape', () => {
  test('the answer names the model the router asked for, not the path or file name the node echoes', async () => {
    for (const kind of ['mlx', 'llamacpp'] as const) {
      const f = await fakeOf(kind);
      const h = await harness([{ id: 'n', kind, fake: f }]);
      const r = await h.client.chat.completions.create({ model: 'm', messages: hi });
      assert.equal(r.model, 'm', kind);
      const stream = await h.client.chat.completions.create({ model: 'm', messages: hi, stream: true });
      for await (const chunk of stream) assert.equal(chunk.model, 'm', kind);
    }
  });

  test('vllm and ollama: `reasoning` arrives as `reasoning_content`, whole and streamed', async () => {
    for (const kind of ['vllm', 'ollama'] as const) {
      const f = await fakeOf(kind, { reasoning: 'let me think' });
      const h = await harness([{ id: 'n', kind, fake: f }]);
      const whole = (await (await h.post('/v1/chat/completions', { model: 'm', messages: hi })).json()) as Json;
      assert.equal(whole['choices'][0]['message']['reasoning_content'], 'let me think', kind);
      assert.equal(whole['choices'][0]['message']['reasoning'], undefined, kind);
      const evs = await events(await h.post('/v1/chat/completions', { model: 'm', messages: hi, stream: true }));
      const reasoning = evs
        .map((e) => (typeof e === 'string' ? '' : (e['choices']?.[0]?.delta?.reasoning_content ?? '')))
        .join('');
      assert.equal(reasoning, 'let me think', kind);
      assert.equal(evs[evs.length - 1], '[DONE]');
    }
  });

  test('usage: asked of the node for metrics, not shown to a client that did not ask', async () => {
    const f = await fakeOf('vllm');
    const h = await harness([{ id: 'n', kind: 'vllm', fake: f }]);
    const evs = await events(await h.post('/v1/chat/completions', { model: 'm', messages: hi, stream: true }));
    assert.deepEqual(f.requests[0]?.body['stream_options'], { include_usage: true });
    assert.ok(
      evs.every((e) => typeof e === 'string' || e['usage'] === undefined),
      'no usage chunk for a client that did not ask',
    );
    assert.match(await h.registry.metrics(), /handoff_router_tokens_total\{node="n",model="m",kind="completion"\} \d+/);

    const asked = await events(
      await h.post('/v1/chat/completions', {
        model: 'm',
        messages: hi,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    assert.equal(asked.filter((e) => typeof e !== 'string' && e['usage']).length, 1);
  });

  test('lmstudio sends no usage in streams: a client that asks gets one, counted by the router', async () => {
    const f = await fakeOf('lmstudio');
    const h = await harness([{ id: 'n', kind: 'lmstudio', fake: f }]);
    const stream = await h.client.chat.completions.create({
      model: 'm',
      messages: hi,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined;
    let text = '';
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'echo: hello there');
    assert.ok(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0, JSON.stringify(usage));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  });

  test("the openai kind is passed through byte for byte: no stream_options added, the node's model name kept", async () => {
    const f = await fakeOf('openai', { style: { echoModel: 'gpt-4.1-2025-04-14' } });
    const h = await harness([{ id: 'n', kind: 'openai', fake: f }]);
    const r = await h.client.chat.completions.create({ model: 'm', messages: hi });
    assert.equal(r.model, 'gpt-4.1-2025-04-14');
    await (await h.post('/v1/chat/completions', { model: 'm', messages: hi, stream: true })).text();
    assert.equal(f.requests[1]?.body['stream_options'], undefined);
  });
});

describe('router quirks: errors in one shape', () => {
  const cases: { kind: Kind; style: string }[] = [
    { kind: 'vllm', style: 'flat {object: "error", message, code: 400}' },
    { kind: 'lmstudio', style: '{error: "text"}' },
    { kind: 'mlx', style: 'an HTML page' },
    { kind: 'openai', style: "OpenAI's own shape" },
  ];
  for (const { kind, style } of cases) {
    test(`${kind}: a 400 sent as ${style} reaches the client as {error: {message, type, code}}`, async () => {
      const f = await fakeOf(kind);
      f.queue.push({ kind: 'badRequest', message: 'temperature must be at most 2' });
      const h = await harness([{ id: 'n', kind, fake: f }]);
      const err = await h.client.chat.completions.create({ model: 'm', messages: hi, temperature: 3 }).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OpenAI.BadRequestError, String(err));
      assert.match(err.message, /temperature must be at most 2/);
      assert.equal(typeof (err.error as Json)['type'], 'string');
      const code = (err.error as Json)['code'];
      assert.ok(code === null || typeof code === 'string');
    });
  }

  test('a 200 that carries an error and no answer (LM Studio) is a 502 with the error', async () => {
    const f = await fakeOf('lmstudio');
    f.queue.push({
      kind: 'errorAs200',
      message: 'Unexpected endpoint or method. (POST /v1/chat/completions). Returning 200 anyway',
    });
    const h = await harness([{ id: 'n', kind: 'lmstudio', fake: f }]);
    const res = await h.post('/v1/chat/completions', { model: 'm', messages: hi });
    assert.equal(res.status, 502);
    assert.match(((await res.json()) as Json)['error']['message'], /Unexpected endpoint/);
  });

  test('an error event mid-stream is passed on in OpenAI shape and the stream ends', async () => {
    for (const kind of ['lmstudio', 'llamacpp'] as const) {
      const f = await fakeOf(kind);
      f.queue.push({ kind: 'errorMidStream', afterChunks: 2, message: 'Compute error.' });
      const h = await harness([{ id: 'n', kind, fake: f }]);
      const evs = await events(await h.post('/v1/chat/completions', { model: 'm', messages: hi, stream: true }));
      const last = evs[evs.length - 1] as Json;
      assert.equal(last['error']['message'], 'Compute error.', kind);
      assert.equal(last['error']['type'], 'upstream_error', kind);
    }
  });

  test("ollama: a prompt over the node's window is refused by the router (Ollama would truncate it silently)", async () => {
    const f = await fakeOf('ollama', { models: [{ id: 'm', contextWindow: 1_000_000 }] });
    const h = await harness([{ id: 'n', kind: 'ollama', fake: f, contextWindow: 2048 }]);
    const res = await h.post('/v1/chat/completions', {
      model: 'm',
      messages: [{ role: 'user', content: 'word '.repeat(3000) }],
      max_tokens: 10,
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as Json)['error']['message'], /needs \d+ tokens/);
    assert.equal(f.requests.length, 0, 'the node never saw it');
  });
});
