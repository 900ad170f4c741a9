import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openaiServer.ts';
import { eventsOf, startAgentStack, type AgentStack } from '../support/agent.ts';
import { waitFor } from '../support/stack.ts';

/**
 * agent.json `modelTimeoutMs` bounds one model call from request to the end of the streamed answer
 * (libs/agent/session.ts): a model that does not answer in time ends the run with error
 * `model_timeout`, long before the router's own first-byte (120 s) and idle (60 s) timeouts.
 */
const TIMEOUT_MS = 1000;
let stack: AgentStack;
let slow: FakeOpenAI;

before(async () => {
  stack = await startAgentStack({ agentConfig: { modelTimeoutMs: TIMEOUT_MS } });
  slow = await startFakeOpenAI({ models: [{ id: 'slow', contextWindow: 32768 }] });
  // the scripted node stays; the slow one joins it (nodes.json is followed while the coordinator runs)
  const fleet = stack.model.fleet() as { nodes: unknown[] };
  const slowNode = { id: 'slow-node', baseUrl: slow.url, kind: 'vllm', models: [{ id: 'slow', contextWindow: 32768 }] };
  writeFileSync(join(stack.home, 'nodes.json'), JSON.stringify({ nodes: [...fleet.nodes, slowNode] }));
  await waitFor('the router to serve the slow model', async () => {
    const models = await stack.api<{ data: { id: string }[] }>('GET', '/v1/models');
    return models.body.data.some((m) => m.id === 'slow');
  });
});

after(async () => {
  await stack?.close();
  await slow?.close();
});

async function runAgainst(
  task: string,
): Promise<{ code: string; message: string; elapsedMs: number; textDeltas: number }> {
  const started = Date.now();
  const { status, events } = await stack.run({ task, model: 'slow' });
  const elapsedMs = Date.now() - started;
  assert.equal(status, 200);
  const last = events.at(-1)!;
  assert.equal(last.type, 'error', JSON.stringify(last));
  if (last.type !== 'error') throw new Error('unreachable');
  return { code: last.code, message: last.message, elapsedMs, textDeltas: eventsOf(events, 'text_delta').length };
}

test('a model that never answers ends the run with error model_timeout after modelTimeoutMs', async () => {
  slow.queue.push({ kind: 'hang' });
  const r = await runAgainst('say something');
  assert.equal(r.code, 'model_timeout', r.message);
  assert.match(r.message, new RegExp(`longer than ${TIMEOUT_MS} ms`));
  assert.ok(r.elapsedMs >= TIMEOUT_MS && r.elapsedMs < 10_000, `ended after ${r.elapsedMs} ms`);
});

test('a stream that stops half-way is model_timeout too: the bound covers the whole answer, not its first byte', async () => {
  slow.queue.push({ kind: 'stallMidStream', afterChunks: 2 });
  const r = await runAgainst('say something longer');
  assert.equal(r.code, 'model_timeout', r.message);
  assert.ok(r.elapsedMs >= TIMEOUT_MS && r.elapsedMs < 10_000, `ended after ${r.elapsedMs} ms`);
  // a model that answers in time, through the same node, is not cut
  slow.queue.push({ kind: 'slowFirstToken', ms: 200 });
  const { events } = await stack.run({ task: 'answer quickly', model: 'slow', maxTurns: 1 });
  const last = events.at(-1)!;
  assert.ok(last.type === 'done' || (last.type === 'error' && last.code !== 'model_timeout'), JSON.stringify(last));
});
