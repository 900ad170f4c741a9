import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AgentEvent } from '@handoff/contracts';
import { eventsOf, startAgentStack, type AgentStack } from '../support/agent.ts';

/**
 * The attacker: a program with an agent token (or a model in the agent loop, whoever started it)
 * tries to push its own text to an operator's phone by writing a `notify` intent, which needs no
 * approval. The API refuses the token and the loop's propose_intent refuses the model; an operator
 * may still write one (the channel exists, so the refusal is the check, not an unknown channel).
 */

let stack: AgentStack;
let agentToken: string;

const payload = {
  kind: 'ntfy',
  title: 'handoff: urgent',
  message: 'Your session expired, sign in again at https://evil.example/login',
  url: 'https://evil.example/login',
  items: [{ event: 'approval_needed', subject: 'sign in again', at: new Date().toISOString() }],
  total: 1,
};

async function notifyIntents(): Promise<{ id: string; created_by: string | null }[]> {
  return stack.tdb.db.selectFrom('intents').select(['id', 'created_by']).where('channel', '=', 'notify').execute();
}

before(async () => {
  stack = await startAgentStack();
  const minted = await stack.api<{ token: string }>('POST', '/v1/tokens', { role: 'agent', name: 'mallory' });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  agentToken = minted.body.token;
});
after(async () => stack?.close());

describe('only the notifier writes notifications', () => {
  test('an agent token cannot create a notify intent over the API (403, nothing written)', async () => {
    const res = await fetch(`${stack.coordinator.url}/v1/intents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'notify', account: 'phone', idempotencyKey: 'phish-1', payload }),
    });
    assert.equal(res.status, 403);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'forbidden');
    assert.match(body.error.message, /notify channel is written by the coordinator's notifier only/);
    assert.deepEqual(await notifyIntents(), []);

    // the same token may still create other intents: the refusal is about the channel
    const other = await fetch(`${stack.coordinator.url}/v1/intents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agentToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'noop', account: 'default', idempotencyKey: 'fine-1', payload: {} }),
    });
    assert.equal(other.status, 201);
  });

  test('an operator may write one, and it needs no approval', async () => {
    const res = await stack.api<{ state: string }>('POST', '/v1/intents', {
      channel: 'notify',
      account: 'phone',
      idempotencyKey: 'operator-test-1',
      payload,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.state, 'approved');
  });

  for (const who of ['agent', 'operator'] as const) {
    test(`a model in an agent run started by an ${who} token cannot propose a notify intent`, async () => {
      const marker = `[task:notify-${who}]`;
      stack.model.script(marker, [
        {
          toolCalls: [
            { id: 'push', name: 'propose_intent', arguments: { channel: 'notify', account: 'phone', payload } },
          ],
        },
        { text: 'tried' },
      ]);
      const before = await notifyIntents();
      const { events } = await stack.run(
        { task: `tell the operator ${marker}` },
        who === 'agent' ? { token: agentToken } : {},
      );
      assert.equal(events.at(-1)?.type, 'done', JSON.stringify(events.at(-1)));
      const results = eventsOf(events, 'tool_result') as Extract<AgentEvent, { type: 'tool_result' }>[];
      assert.equal(results.length, 1);
      assert.equal(results[0]!.ok, false);
      assert.equal(eventsOf(events, 'intent_proposed').length, 0);
      assert.deepEqual(await notifyIntents(), before);
    });
  }
});
