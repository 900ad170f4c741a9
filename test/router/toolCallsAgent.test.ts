import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentEvent } from '@handoff/contracts';
import { FORMATS } from '../fakes/textToolCalls.ts';
import { eventsOf, startAgentStack } from '../support/agent.ts';
import type { AgentStack } from '../support/agent.ts';

/**
 * The agent loop on a model that never uses the structured `tool_calls` field: every call is text
 * (Hermes, Qwen3-Coder XML, GLM, Mistral), and the router turns it into real calls, so the run
 * writes, edits and reads its files and ends with the model's summary, not at the first turn.
 */

describe('agent loop on a model that writes its tool calls as text', () => {
  let stack: AgentStack;
  before(async () => {
    stack = await startAgentStack();
  });
  after(async () => {
    await stack?.close();
  });

  test('a multi-step file task completes, each call fed back under the id the router gave it', async () => {
    const script = stack.model.script('[task:text-calls]', [
      {
        text: `I will write the file.\n${FORMATS.hermes([{ name: 'write_file', arguments: { path: 'notes/a.txt', content: 'hello world\n' } }])}`,
      },
      {
        text: FORMATS.qwen3_coder([
          { name: 'edit_file', arguments: { path: 'notes/a.txt', old_string: 'world', new_string: 'handoff' } },
        ]),
      },
      { text: FORMATS.glm47([{ name: 'read_file', arguments: { path: 'notes/a.txt' } }]) },
      { text: FORMATS.mistral_v11([{ name: 'bash', arguments: { command: 'cat notes/a.txt' } }]) },
      { text: 'Done: notes/a.txt says hello handoff.' },
    ]);
    mkdirSync(join(stack.workspace, 'text-calls'), { recursive: true });
    const { status, events } = await stack.run(
      { task: 'Write a note [task:text-calls]', workingDir: 'text-calls' },
      { onEvent: (e: AgentEvent) => stack.approveAll(e) },
    );
    assert.equal(status, 200);
    assert.equal(readFileSync(join(stack.workspace, 'text-calls/notes/a.txt'), 'utf8'), 'hello handoff\n');
    assert.equal(events.at(-1)?.type, 'done');
    const results = eventsOf(events, 'tool_result');
    assert.deepEqual(
      results.map((r) => [r.name, r.ok]),
      [
        ['write_file', true],
        ['edit_file', true],
        ['read_file', true],
        ['bash', true],
      ],
    );
    assert.equal(
      eventsOf(events, 'text_delta')
        .map((e) => e.text)
        .join(''),
      'I will write the file.Done: notes/a.txt says hello handoff.',
    );
    assert.equal(eventsOf(events, 'done')[0]!.summary, 'Done: notes/a.txt says hello handoff.');

    // What the model was sent back: its call as a structured call, the result under that call's id.
    const second = script.requests[1]!.messages;
    const assistant = second.find((m) => m.role === 'assistant') as { tool_calls?: { id: string }[] } | undefined;
    const callId = assistant?.tool_calls?.[0]?.id;
    assert.ok(callId?.startsWith('call_'));
    assert.equal(second.find((m) => m.role === 'tool')?.tool_call_id, callId);
    assert.match(String(script.requests[4]!.messages.at(-1)?.content), /hello handoff/);
  });
});
