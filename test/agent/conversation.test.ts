import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetConfig } from '@handoff/contracts';
import { biggerModel, contextWindowOf } from '@handoff/agent';
import { activeEntries, requestMessages, truncateResult, unansweredCalls } from '../../libs/agent/conversation.ts';
import type { Entry } from '../../libs/agent/conversation.ts';

/**
 * What a request is built from (the stored conversation, its latest summary, cut older results) and
 * where a window comes from, without a model or a database. The loop's behaviour end to end is in
 * context.test.ts and sessions.test.ts.
 */

const call = (id: string, name = 'read_file') => ({
  id,
  type: 'function' as const,
  function: { name, arguments: '{"path":"a"}' },
});

const history: Entry[] = [
  { seq: 1, turn: 1, role: 'assistant', content: 'first', toolCalls: [call('c1')] },
  { seq: 2, turn: 1, role: 'tool', toolCallId: 'c1', content: 'x'.repeat(5000) },
  { seq: 3, turn: 2, role: 'assistant', content: null, toolCalls: [call('c2'), call('c3', 'bash')] },
  { seq: 4, turn: 2, role: 'tool', toolCallId: 'c2', content: 'y'.repeat(5000) },
];

describe('the conversation a request is built from', () => {
  test('the task comes first, then every stored message; older tool results are cut with a note', () => {
    const whole = requestMessages('sys', 'the task', history);
    assert.deepEqual(
      whole.map((m) => m.role),
      ['system', 'user', 'assistant', 'tool', 'assistant', 'tool'],
    );
    const cut = requestMessages('sys', 'the task', history, { truncateThroughTurn: 1, truncatedResultChars: 200 });
    assert.ok(String(cut[3]!.content).length < 400);
    assert.match(String(cut[3]!.content), /cut to fit the context window; run the tool again/);
    assert.equal(cut[5]!.content, 'y'.repeat(5000), 'the last turn is kept whole');
  });

  test('the latest summary stands for what it covers, inside the task message', () => {
    const summarised: Entry[] = [
      ...history,
      { seq: 5, turn: 3, role: 'summary', content: 'old summary', summarisedThrough: 1 },
      { seq: 6, turn: 3, role: 'summary', content: 'turn 1 done', summarisedThrough: 2 },
    ];
    assert.deepEqual(
      activeEntries(summarised).rest.map((e) => e.seq),
      [3, 4],
    );
    const messages = requestMessages('sys', 'the task', summarised);
    assert.equal(messages[1]!.role, 'user');
    assert.match(String(messages[1]!.content), /^the task\n\n\[Summary of the earlier work[^\n]*\]\nturn 1 done$/);
    assert.deepEqual(
      messages.slice(2).map((m) => m.role),
      ['assistant', 'tool'],
    );
  });

  test('a turn cut short is the last answer’s calls without a result', () => {
    assert.deepEqual(
      unansweredCalls(history).map((c) => c.id),
      ['c3'],
    );
    assert.deepEqual(unansweredCalls(history.slice(0, 2)), []);
  });

  test('a short result is left as it is', () => {
    assert.equal(truncateResult('short', 100), 'short');
  });
});

describe('context windows from nodes.json', () => {
  const fleet = FleetConfig.parse({
    nodes: [
      {
        id: 'a',
        baseUrl: 'http://127.0.0.1:1/v1',
        kind: 'llamacpp',
        models: [{ id: 'small', contextWindow: 8192, aliases: ['s'] }],
      },
      { id: 'b', baseUrl: 'http://127.0.0.1:2/v1', kind: 'vllm', models: [{ id: 'small', contextWindow: 16384 }] },
      { id: 'c', baseUrl: 'http://127.0.0.1:3/v1', kind: 'vllm', models: [{ id: 'mid', contextWindow: 32768 }] },
      { id: 'd', baseUrl: 'http://127.0.0.1:4/v1', kind: 'openai', models: [{ id: 'large', contextWindow: 200000 }] },
    ],
    escalation: ['small', 'mid', 'large'],
  });

  test("a model's window is the largest among the nodes that serve it; an unknown model has none", () => {
    assert.equal(contextWindowOf(fleet, 'small'), 16384);
    assert.equal(contextWindowOf(fleet, 's'), 8192);
    assert.equal(contextWindowOf(fleet, 'nope'), null);
  });

  test('escalation takes the first model up the chain whose window fits, never the model itself', () => {
    assert.equal(biggerModel(fleet, 'small', 20000), 'mid');
    assert.equal(biggerModel(fleet, 's', 20000), 'mid');
    assert.equal(biggerModel(fleet, 'small', 100000), 'large');
    assert.equal(biggerModel(fleet, 'mid', 10000), 'large');
    assert.equal(biggerModel(fleet, 'large', 300000), null);
  });
});
