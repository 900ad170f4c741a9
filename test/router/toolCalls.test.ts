import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FleetConfig } from '@handoff/contracts';
import { FORMATS, WEATHER_CALL, startTextToolModel } from '../fakes/textToolCalls.ts';
import type { TextFormat, TextToolModel } from '../fakes/textToolCalls.ts';
import { mountRouter } from './harness.ts';
import type { MountedRouter } from './harness.ts';

/**
 * Tool calls written as text become real tool calls: through the official openai client, against a
 * fake whose models write each family's bytes, streamed and not, in Chat Completions and Responses.
 */

const silent = pino({ level: 'silent' });

const parameters = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    days: { type: 'integer' },
    metric: { type: 'boolean' },
    options: { type: 'object', properties: { lang: { type: 'string' } } },
  },
  required: ['city'],
};
const chatTools = [
  { type: 'function' as const, function: { name: 'get_weather', description: 'weather', parameters } },
];
const responseTools = [
  { type: 'function' as const, name: 'get_weather', description: 'weather', parameters, strict: false },
];
const expectedArgs = { city: 'Paris', days: 3, metric: true, options: { lang: 'fr' } };
/** Formats whose reply has text before the calls (the rest are calls only). */
const withPreamble = new Set<TextFormat>(['hermes', 'qwen3_coder', 'glm45', 'glm47']);
const formats = Object.keys(FORMATS) as TextFormat[];

let model: TextToolModel;
let h: MountedRouter;

before(async () => {
  model = await startTextToolModel();
  const models = [
    ...formats.map((id) => ({ id, contextWindow: 32768 })),
    { id: 'hermes@none', contextWindow: 32768, toolCallParser: 'none' },
    { id: 'hermes@mistral', contextWindow: 32768, toolCallParser: 'mistral' },
    { id: 'glm47@glm45', contextWindow: 32768, toolCallParser: 'glm45' },
  ];
  const fleet = FleetConfig.parse({
    nodes: [
      { id: 'local', baseUrl: model.url, kind: 'llamacpp', models },
      { id: 'plain', baseUrl: model.url, kind: 'openai', models: [{ id: 'hermes@openai', contextWindow: 32768 }] },
      {
        id: 'deepseeks',
        baseUrl: model.url,
        kind: 'vllm',
        toolCallParser: 'deepseek',
        models: [{ id: 'deepseek_v3@node', contextWindow: 32768 }],
      },
    ],
  });
  h = await mountRouter({ fleet: () => fleet, log: silent, probeCheckMs: 0 });
});
after(async () => {
  await h?.close();
  await model?.close();
});

const ask = [{ role: 'user' as const, content: 'Weather in Paris for 3 days?' }];

describe('text tool calls in chat completions', () => {
  for (const format of formats) {
    test(`${format}: not streamed, the call comes back as tool_calls with typed arguments and the text as content`, async () => {
      const answer = await h.client.chat.completions.create({ model: format, messages: ask, tools: chatTools });
      const choice = answer.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      const calls = choice.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      const call = calls[0]!;
      assert.equal(call.type, 'function');
      assert.ok(call.type === 'function' && call.id.startsWith('call_'));
      assert.equal(call.type === 'function' && call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.type === 'function' ? call.function.arguments : ''), expectedArgs);
      if (format === 'think')
        assert.match(choice.message.content ?? '', /^<think>\n[\s\S]*<tool_call>[\s\S]*<\/think>$/);
      else assert.equal(choice.message.content, withPreamble.has(format) ? 'Let me check.' : null);
    });

    test(`${format}: streamed, the openai client assembles the tool_calls deltas into the same call`, async () => {
      const stream = h.client.chat.completions.stream({ model: format, messages: ask, tools: chatTools });
      const final = await stream.finalChatCompletion();
      const choice = final.choices[0]!;
      assert.equal(choice.finish_reason, 'tool_calls');
      const calls = choice.message.tool_calls ?? [];
      assert.equal(calls.length, 1);
      const call = calls[0]!;
      assert.equal(call.type === 'function' && call.function.name, 'get_weather');
      assert.ok(call.id.startsWith('call_'));
      assert.deepEqual(JSON.parse(call.type === 'function' ? call.function.arguments : ''), expectedArgs);
      const content = choice.message.content ?? '';
      if (format === 'think') assert.match(content, /^<think>\n[\s\S]*<tool_call>[\s\S]*<\/think>$/);
      else assert.equal(content, withPreamble.has(format) ? 'Let me check.' : '');
    });
  }

  test('several calls in one reply keep their order and get their own index and id', async () => {
    model.calls = [WEATHER_CALL, { name: 'get_weather', arguments: { city: 'Lyon', days: 1 } }];
    try {
      for (const format of ['hermes', 'glm47', 'mistral_v11', 'deepseek_v3'] as const) {
        const final = await h.client.chat.completions
          .stream({ model: format, messages: ask, tools: chatTools })
          .finalChatCompletion();
        const calls = final.choices[0]!.message.tool_calls ?? [];
        assert.deepEqual(
          calls.map((c) => (c.type === 'function' ? JSON.parse(c.function.arguments).city : null)),
          ['Paris', 'Lyon'],
          format,
        );
        assert.equal(new Set(calls.map((c) => c.id)).size, 2, format);
      }
    } finally {
      model.calls = [WEATHER_CALL];
    }
  });

  test('an undeclared name stays text: no tools, other tools, or tool_choice none', async () => {
    const noTools = await h.client.chat.completions.create({ model: 'hermes', messages: ask });
    assert.equal(noTools.choices[0]!.finish_reason, 'stop');
    assert.match(noTools.choices[0]!.message.content ?? '', /<tool_call>\n\{"name": "get_weather"/);

    const other = [{ type: 'function' as const, function: { name: 'get_time', parameters: { type: 'object' } } }];
    const otherTools = await h.client.chat.completions
      .stream({ model: 'glm45', messages: ask, tools: other })
      .finalChatCompletion();
    assert.equal(otherTools.choices[0]!.finish_reason, 'stop');
    assert.equal(otherTools.choices[0]!.message.tool_calls, undefined);
    assert.equal(otherTools.choices[0]!.message.content, `Let me check.\n\n${FORMATS.glm45([WEATHER_CALL])}`);

    const none = await h.client.chat.completions.create({
      model: 'hermes',
      messages: ask,
      tools: chatTools,
      tool_choice: 'none',
    });
    assert.equal(none.choices[0]!.message.tool_calls, undefined);
  });

  test('toolCallParser in nodes.json: none leaves the text, one family reads only its own format, a node sets it for its models', async () => {
    const untouched = await h.client.chat.completions.create({ model: 'hermes@none', messages: ask, tools: chatTools });
    assert.equal(untouched.choices[0]!.message.content, `Let me check.\n\n${FORMATS.hermes([WEATHER_CALL])}`);
    const otherFamily = await h.client.chat.completions
      .stream({ model: 'hermes@mistral', messages: ask, tools: chatTools })
      .finalChatCompletion();
    assert.equal(otherFamily.choices[0]!.message.content, `Let me check.\n\n${FORMATS.hermes([WEATHER_CALL])}`);
    const own = await h.client.chat.completions.create({ model: 'glm47@glm45', messages: ask, tools: chatTools });
    assert.equal(own.choices[0]!.message.tool_calls?.length, 1);
    const byNode = await h.client.chat.completions.create({
      model: 'deepseek_v3@node',
      messages: ask,
      tools: chatTools,
    });
    assert.equal(byNode.choices[0]!.message.tool_calls?.length, 1);
  });

  test('an openai-kind node (answers passed through untouched otherwise) gets its text calls converted too', async () => {
    const whole = await h.client.chat.completions.create({ model: 'hermes@openai', messages: ask, tools: chatTools });
    assert.equal(whole.choices[0]!.message.tool_calls?.length, 1);
    const streamed = await h.client.chat.completions
      .stream({ model: 'hermes@openai', messages: ask, tools: chatTools })
      .finalChatCompletion();
    assert.equal(streamed.choices[0]!.message.tool_calls?.length, 1);
    assert.equal(streamed.choices[0]!.message.content, 'Let me check.');
  });

  test('after the tool result the plain answer passes through as content', async () => {
    const messages = [
      ...ask,
      {
        role: 'assistant' as const,
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{}' } }],
      },
      { role: 'tool' as const, tool_call_id: 'call_1', content: '21C' },
    ];
    const final = await h.client.chat.completions
      .stream({ model: 'hermes', messages, tools: chatTools })
      .finalChatCompletion();
    assert.equal(final.choices[0]!.message.content, 'It is sunny (21C).');
    assert.equal(final.choices[0]!.finish_reason, 'stop');
  });
});

describe('text tool calls in /v1/responses (translated to chat completions)', () => {
  for (const format of ['hermes', 'qwen3_coder', 'glm47', 'mistral_v3', 'llama3', 'deepseek_v31', 'think'] as const) {
    test(`${format}: function_call items with typed arguments, not streamed and streamed`, async () => {
      const whole = await h.client.responses.create({
        model: format,
        input: 'Weather in Paris?',
        tools: responseTools,
      });
      const streamed = await h.client.responses
        .stream({ model: format, input: 'Weather in Paris?', tools: responseTools })
        .finalResponse();
      for (const response of [whole, streamed]) {
        const calls = response.output.flatMap((o) => (o.type === 'function_call' ? [o] : []));
        assert.equal(calls.length, 1);
        assert.equal(calls[0]!.name, 'get_weather');
        assert.ok(calls[0]!.call_id.startsWith('call_'));
        assert.deepEqual(JSON.parse(calls[0]!.arguments), expectedArgs);
        if (withPreamble.has(format)) assert.equal(response.output_text, 'Let me check.');
        else if (format !== 'think') assert.equal(response.output_text, '');
      }
    });
  }
});
