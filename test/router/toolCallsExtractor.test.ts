import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ToolCallChunks,
  ToolCallExtractor,
  coerceArguments,
  declaredTools,
  toolCallsInResponse,
} from '@handoff/router';
import type { Piece, ToolCallPlan } from '@handoff/router';
import { FORMATS, WEATHER_CALL } from '../fakes/textToolCalls.ts';
import type { TextFormat } from '../fakes/textToolCalls.ts';

/**
 * The extractor alone: a reply in, text and calls out, the same whether the reply comes whole or
 * one character at a time, and nothing held back that cannot be the start of a marker.
 */

const parameters = {
  type: 'object',
  properties: {
    city: { type: 'string' },
    days: { type: 'integer' },
    metric: { type: 'boolean' },
    options: { type: 'object', properties: { lang: { type: 'string' } } },
  },
};
const plan = (parser: ToolCallPlan['parser'] = 'auto'): ToolCallPlan => ({
  parser,
  tools: declaredTools([{ type: 'function', function: { name: 'get_weather', parameters } }]),
});

/** Everything the extractor hands out for `reply` pushed in pieces of `size` characters, merged. */
function extract(reply: string, size: number, p = plan()): { text: string; calls: { name: string; args: unknown }[] } {
  const extractor = new ToolCallExtractor(p);
  const pieces: Piece[] = [];
  const chars = [...reply];
  for (let i = 0; i < chars.length; i += size) pieces.push(...extractor.push(chars.slice(i, i + size).join('')));
  pieces.push(...extractor.end());
  return {
    text: pieces.map((x) => ('text' in x ? x.text : '')).join(''),
    calls: pieces.flatMap((x) => ('call' in x ? [{ name: x.call.name, args: JSON.parse(x.call.arguments) }] : [])),
  };
}

const expected = [{ name: 'get_weather', args: { city: 'Paris', days: 3, metric: true, options: { lang: 'fr' } } }];

describe('tool call extractor', () => {
  for (const format of Object.keys(FORMATS) as TextFormat[]) {
    test(`${format}: the same calls whether the reply comes whole or split at every character`, () => {
      const reply = FORMATS[format]([WEATHER_CALL]);
      for (const size of [reply.length, 1, 2, 5])
        assert.deepEqual(extract(reply, size).calls, expected, `size ${size}`);
    });
  }

  test('text around the calls stays content; whitespace next to a call is dropped', () => {
    const reply = `Checking now.\n\n${FORMATS.hermes([WEATHER_CALL])}\n\nThen I will summarise.`;
    for (const size of [reply.length, 1, 3])
      assert.deepEqual(extract(reply, size), { text: 'Checking now.Then I will summarise.', calls: expected });
  });

  test('a reply with no calls comes out byte for byte, whitespace and marker look-alikes included', () => {
    const reply = '  Use <b>bold</b>, a [TOOL list], x < y, {"answer": 42} and <tool_c without closing.\n';
    for (const size of [reply.length, 1, 4]) assert.deepEqual(extract(reply, size), { text: reply, calls: [] });
  });

  test('only text that may start a marker is held back', () => {
    const extractor = new ToolCallExtractor(plan());
    assert.deepEqual(extractor.push('Hello <tool_'), [{ text: 'Hello' }]);
    assert.deepEqual(extractor.push('x> more'), [{ text: ' <tool_x> more' }]);
    assert.deepEqual(extractor.push(' [TOOL'), []);
    assert.deepEqual(extractor.push('S] done'), [{ text: ' [TOOLS] done' }]);
  });

  test('a JSON reply that is not a call is let go at its first key, not held to the end', () => {
    const extractor = new ToolCallExtractor(plan());
    assert.deepEqual(extractor.push('{"answ'), [{ text: '{"answ' }]);
    const held = new ToolCallExtractor(plan());
    assert.deepEqual(held.push('{"name": "get_weather", "para'), []);
  });

  test('undeclared names, broken blocks and other families stay text', () => {
    const unknown = FORMATS.hermes([{ name: 'launch', arguments: {} }]);
    assert.deepEqual(extract(unknown, 3), { text: unknown, calls: [] });
    const broken = '<tool_call>\n{"name": "get_weather", "arguments": {"city": </tool_call>';
    assert.deepEqual(extract(broken, 3), { text: broken, calls: [] });
    const hermes = FORMATS.hermes([WEATHER_CALL]);
    assert.deepEqual(extract(hermes, 4, plan('mistral')), { text: hermes, calls: [] });
    assert.deepEqual(extract(hermes, 4, plan('hermes')).calls, expected);
  });

  test('a call inside <think> is thinking, not a call; the one after it counts', () => {
    const inside = `<think>maybe ${FORMATS.hermes([WEATHER_CALL])}</think>`;
    assert.deepEqual(extract(inside, 2), { text: inside, calls: [] });
    assert.deepEqual(extract(`${inside}\n${FORMATS.glm47([WEATHER_CALL])}`, 2), { text: inside, calls: expected });
  });

  test('DeepSeek tokens printed with ASCII bars are read too', () => {
    const reply = FORMATS.deepseek_v31([WEATHER_CALL]).replaceAll('｜', '|');
    for (const size of [reply.length, 1]) assert.deepEqual(extract(reply, size).calls, expected);
  });

  test('a block cut off by the end of the reply is read when it parses', () => {
    const cut = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}';
    assert.deepEqual(extract(cut, 5).calls, [{ name: 'get_weather', args: { city: 'Paris' } }]);
  });
});

describe('argument coercion to the declared schema', () => {
  test('text becomes the declared type when it converts cleanly, and stays text when it does not', () => {
    const schema = {
      type: 'object',
      properties: {
        n: { type: 'integer' },
        x: { type: 'number' },
        b: { type: 'boolean' },
        o: { type: 'object' },
        a: { type: 'array', items: { type: 'integer' } },
        s: { type: 'string' },
        maybe: { type: ['integer', 'null'] },
        any: { anyOf: [{ type: 'boolean' }, { type: 'string' }] },
      },
    };
    assert.deepEqual(
      coerceArguments(
        { n: '3', x: '2.5', b: 'TRUE', o: '{"k": 1}', a: '["1", 2]', s: 42, maybe: 'null', any: 'false', extra: '7' },
        schema,
      ),
      { n: 3, x: 2.5, b: true, o: { k: 1 }, a: [1, 2], s: '42', maybe: null, any: 'false', extra: '7' },
    );
    assert.deepEqual(coerceArguments({ n: 'three', b: 'yes' }, schema), { n: 'three', b: 'yes' });
    assert.deepEqual(coerceArguments('{"n": "4"}', schema), { n: 4 });
    assert.deepEqual(coerceArguments(undefined, schema), {});
    assert.equal(coerceArguments('[1]', schema), null);
  });
});

describe('answers with text tool calls rewritten', () => {
  test("a node's own Response object: the message keeps its text, the calls become function_call items", () => {
    const response = {
      object: 'response',
      output: [
        { type: 'reasoning', id: 'rs_1', summary: [] },
        {
          type: 'message',
          id: 'msg_1',
          role: 'assistant',
          content: [{ type: 'output_text', text: `Let me check.\n${FORMATS.glm45([WEATHER_CALL])}`, annotations: [] }],
        },
      ],
    };
    const out = toolCallsInResponse(response, plan()) as { output: Record<string, any>[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual(
      out.output.map((o) => o['type']),
      ['reasoning', 'message', 'function_call'],
    );
    assert.equal(out.output[1]!['content'][0].text, 'Let me check.');
    assert.equal(out.output[2]!['name'], 'get_weather');
    assert.deepEqual(JSON.parse(out.output[2]!['arguments']), expected[0]!.args);
  });

  test('stream chunks: a native call and a text call get distinct indexes in order of appearance', () => {
    const chunks = new ToolCallChunks(plan());
    const base = { id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm' };
    const chunk = (delta: object, finish: string | null = null) => ({
      ...base,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    const out = [
      ...chunks.chunk(
        chunk({
          tool_calls: [{ index: 0, id: 'n1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
        }),
      ),
      ...chunks.chunk(chunk({ content: FORMATS.hermes([WEATHER_CALL]) })),
      ...chunks.chunk(chunk({}, 'stop')),
    ];
    const calls = out.flatMap(
      (c) => (c.choices as { delta: { tool_calls?: { index: number; id?: string }[] } }[])[0]!.delta.tool_calls ?? [],
    );
    assert.deepEqual(
      calls.filter((c) => c.id).map((c) => c.index),
      [0, 1],
    );
    assert.equal((out.at(-1)!.choices as { finish_reason: string }[])[0]!.finish_reason, 'tool_calls');
  });
});
