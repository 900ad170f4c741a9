import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventsOf, startAgentStack, type AgentStack } from '../support/agent.ts';
import { waitFor } from '../support/stack.ts';

/**
 * agent.json is followed while the coordinator runs (libs/agent/config.ts over watchConfigFile): a
 * good change is in force for the next run without a restart; a bad one is refused and the last
 * good config keeps serving. Seen through a run's `session_started.maxTurns` (the config's limit).
 */
let stack: AgentStack;

before(async () => {
  // the stack polls config files every 100 ms
  stack = await startAgentStack({ agentConfig: { maxTurns: 5 } });
  stack.model.script('[task:reload]', []);
});

after(async () => {
  await stack?.close();
});

const agentJson = (): string => join(stack.home, 'agent.json');

async function maxTurnsInForce(): Promise<number> {
  const { status, events } = await stack.run({ task: 'what is the limit [task:reload]' });
  assert.equal(status, 200);
  const started = eventsOf(events, 'session_started')[0];
  assert.ok(started);
  return started.maxTurns;
}

test('a changed agent.json is in force for the next run without a restart', async () => {
  assert.equal(await maxTurnsInForce(), 5);
  writeFileSync(agentJson(), JSON.stringify({ maxTurns: 3 }));
  await waitFor('the new limit', async () => (await maxTurnsInForce()) === 3, 10_000, 100);
});

test('a bad agent.json is refused and the last good one stays in force', async () => {
  writeFileSync(agentJson(), JSON.stringify({ maxTurns: 4 }));
  await waitFor('the good change', async () => (await maxTurnsInForce()) === 4, 10_000, 100);
  for (const bad of [
    '{"maxTurns": 2, ',
    JSON.stringify({ maxTurns: 0 }),
    JSON.stringify({ maxTurns: 2, surprise: true }),
  ]) {
    writeFileSync(agentJson(), bad);
    // several polling and settling intervals of the stack's 100 ms
    await sleep(600);
    assert.equal(await maxTurnsInForce(), 4, `after ${bad}`);
  }
  // the watcher is still alive after the refusals
  writeFileSync(agentJson(), JSON.stringify({ maxTurns: 2 }));
  await waitFor('the next good change', async () => (await maxTurnsInForce()) === 2, 10_000, 100);
});
