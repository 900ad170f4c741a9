import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentEvent, AgentSessionDetail, AgentSessionList } from '@handoff/contracts';
import { INTERRUPTED_BASH_RESULT } from '@handoff/agent';
import { startScriptedModel } from '../fakes/scriptedModel.ts';
import type { ScriptedModel } from '../fakes/scriptedModel.ts';
import { eventsOf, startSessionStack } from './sessionStack.ts';
import type { SessionStack } from './sessionStack.ts';

/**
 * Agent sessions are stored in Postgres as they run: a coordinator killed under a run leaves the
 * session `interrupted` (never lost), `handoff agent resume` finishes it from its last complete
 * turn, and propose_intent's keys make the replayed turn propose nothing twice. Through a real
 * coordinator process (SIGKILLed), the CLI, Postgres and a scripted model.
 */

describe('durable agent sessions', () => {
  let model: ScriptedModel;
  let stack: SessionStack;

  before(async () => {
    model = await startScriptedModel();
    stack = await startSessionStack({ fleet: model.fleet(), agentConfig: { approvals: { pollMs: 50 } } });
  });
  after(async () => {
    await stack?.close();
    await model?.close();
  });

  const intentsOf = async (sessionId: string) =>
    stack.tdb.db
      .selectFrom('intents')
      .select(['id', 'idempotency_key'])
      .where('idempotency_key', 'like', `agent:${sessionId}:%`)
      .execute();

  test('a coordinator killed during a run leaves the session interrupted; `handoff agent resume` finishes it and proposes no intent twice', async () => {
    const propose = {
      id: 'p1',
      name: 'propose_intent',
      arguments: { channel: 'noop', payload: { note: 'ship it' }, requires_approval: true },
    };
    const script = model.script('[task:crash]', [
      {
        text: 'Proposing, then writing the proof.',
        // eval always asks a person: the run waits there, and the coordinator dies while it waits
        toolCalls: [propose, { id: 'b1', name: 'bash', arguments: { command: "eval 'echo ran > proof.txt'" } }],
      },
      // after the restart the model goes over its last step again: the same call, the same key
      { toolCalls: [propose] },
      { text: 'Proposed once, proof not written.' },
    ]);
    mkdirSync(join(stack.workspace, 'crash'), { recursive: true });

    let killed: Promise<void> | undefined;
    const first = await stack.stream('/v1/agent/run', { task: 'ship [task:crash]', workingDir: 'crash' }, (event) => {
      if (event.type === 'approval_required') killed ??= stack.kill();
    });
    await killed;
    assert.equal(first.status, 200);
    const sessionId = first.events[0]!.sessionId;
    assert.equal(eventsOf(first.events, 'intent_proposed')[0]?.created, true);
    assert.equal(first.events.at(-1)?.type, 'approval_required', 'the stream broke off while the run waited');
    assert.equal((await intentsOf(sessionId)).length, 1);

    await stack.start();
    const listed = await stack.cli(['agent', 'sessions', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const row = (JSON.parse(listed.stdout) as AgentSessionList).sessions.find((s) => s.id === sessionId);
    assert.equal(row?.state, 'interrupted');
    assert.equal(row?.turns, 1);
    assert.equal(row?.task, 'ship [task:crash]');
    assert.equal(row?.model, 'scripted');

    const readable = await stack.cli(['agent', 'sessions']);
    assert.equal(readable.code, 0, readable.stderr);
    assert.match(readable.stdout, /ID\s+STATE\s+MODEL\s+TURNS\s+STARTED\s+DURATION\s+TASK/);
    assert.match(readable.stdout, new RegExp(`${sessionId}\\s+interrupted\\s+scripted\\s+1\\s`));

    const resumed = await stack.cli(['agent', 'resume', sessionId, '--json']);
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    const events = resumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AgentEvent);
    assert.ok(events.every((e) => e.sessionId === sessionId));
    const again = eventsOf(events, 'session_resumed')[0];
    assert.deepEqual(again && [again.fromTurn, again.replayed, again.notReplayed], [1, [], ['b1']]);
    // the command the restart cut short is not run again: the model is told
    assert.equal(eventsOf(events, 'tool_result')[0]?.output, INTERRUPTED_BASH_RESULT);
    const replayed = eventsOf(events, 'intent_proposed');
    assert.deepEqual(
      replayed.map((e) => [e.toolCallId, e.created]),
      [['p1', false]],
    );
    assert.equal(events.at(-1)?.type, 'done');

    // what the model was sent after the restart: the whole history, the cut call answered
    const fed = script.requests[1]!.messages;
    assert.deepEqual(
      fed.filter((m) => m.role === 'tool').map((m) => m.tool_call_id),
      ['p1', 'b1'],
    );
    assert.match(String(fed.find((m) => m.tool_call_id === 'b1')?.content), /not run again/);

    const intents = await intentsOf(sessionId);
    assert.deepEqual(
      intents.map((i) => i.idempotency_key),
      [`agent:${sessionId}:p1`],
    );

    const shown = await stack.cli(['agent', 'show', sessionId, '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    const detail = JSON.parse(shown.stdout) as AgentSessionDetail;
    assert.equal(detail.state, 'done');
    assert.equal(detail.turns, 3);
    assert.equal(detail.resumes, 1);
    assert.equal(detail.summary, 'Proposed once, proof not written.');
    assert.deepEqual(
      detail.intents.map((i) => i.id),
      [intents[0]!.id],
    );
    assert.deepEqual(
      detail.transcript.map((m) => [m.turn, m.role, m.toolCallId ?? m.toolCalls?.map((c) => c.id).join(',')]),
      [
        [1, 'assistant', 'p1,b1'],
        [1, 'tool', 'p1'],
        [1, 'tool', 'b1'],
        [2, 'assistant', 'p1'],
        [2, 'tool', 'p1'],
        [3, 'assistant', undefined],
      ],
    );
    assert.deepEqual(
      detail.toolAudit.map((a) => [a.toolCallId, a.decision]),
      [
        ['p1', 'ok'],
        ['b1', 'interrupted'],
        ['p1', 'ok'],
      ],
    );
    assert.ok(detail.guardDecisions.some((g) => g.decision === 'ask' && g.command.includes('echo ran')));

    const text = await stack.cli(['agent', 'show', sessionId]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /TRANSCRIPT/);
    assert.match(text.stdout, /TOOL AUDIT/);
    assert.match(text.stdout, /GUARD DECISIONS/);
    assert.match(text.stdout, new RegExp(`INTENTS PROPOSED\\n[^]*${intents[0]!.id}`));

    // a finished session is not resumed again, a missing one is a 404
    const done = await stack.api<{ error: { code: string } }>('POST', `/v1/agent/sessions/${sessionId}/resume`, {});
    assert.equal(done.status, 409);
    assert.equal(done.body.error.code, 'invalid_state');
    const missing = await stack.api<{ error: { code: string } }>(
      'POST',
      '/v1/agent/sessions/00000000-0000-4000-8000-000000000000/resume',
      {},
    );
    assert.equal(missing.status, 404);
  });

  test('a call cut between writing its intent and storing its result is run again under its id on resume, and finds that intent', async () => {
    const propose = {
      id: 'p2',
      name: 'propose_intent',
      arguments: { channel: 'noop', payload: { note: 'once' }, requires_approval: true },
    };
    model.script('[task:window]', [
      { toolCalls: [propose, { id: 'b2', name: 'bash', arguments: { command: "eval 'echo never'" } }] },
      { text: 'done after the replay' },
    ]);
    let killed: Promise<void> | undefined;
    const first = await stack.stream('/v1/agent/run', { task: 'propose [task:window]' }, (event) => {
      if (event.type === 'approval_required') killed ??= stack.kill();
    });
    await killed;
    const sessionId = first.events[0]!.sessionId;
    // The crash window this stands for: the intent was written, its result was not yet stored.
    await stack.tdb.db
      .withTables<{ agent_messages: { session_id: string; tool_call_id: string | null } }>()
      .deleteFrom('agent_messages')
      .where('session_id', '=', sessionId)
      .where('tool_call_id', '=', 'p2')
      .execute();
    await stack.start();

    const resumed = await stack.stream(`/v1/agent/sessions/${sessionId}/resume`, {});
    assert.equal(resumed.status, 200);
    const again = eventsOf(resumed.events, 'session_resumed')[0];
    assert.deepEqual(again && [again.replayed, again.notReplayed], [['p2'], ['b2']]);
    assert.deepEqual(
      eventsOf(resumed.events, 'intent_proposed').map((e) => [e.toolCallId, e.created]),
      [['p2', false]],
    );
    assert.equal(resumed.events.at(-1)?.type, 'done');
    assert.equal((await intentsOf(sessionId)).length, 1);
  });

  test('a coordinator stopped cleanly (SIGTERM) leaves its running session interrupted, and it can be resumed', async () => {
    model.script('[task:term]', [
      { toolCalls: [{ id: 'b3', name: 'bash', arguments: { command: "eval 'echo later'" } }] },
      { text: 'resumed after a clean stop' },
    ]);
    let stopped: Promise<void> | undefined;
    const first = await stack.stream('/v1/agent/run', { task: 'wait [task:term]' }, (event) => {
      if (event.type === 'approval_required') stopped ??= stack.stop();
    });
    await stopped;
    const last = first.events.at(-1);
    assert.equal(last?.type === 'error' && last.code, 'shutdown');
    const sessionId = first.events[0]!.sessionId;
    const row = await stack.tdb.db
      .withTables<{ agent_sessions: { id: string; state: string; error_code: string | null } }>()
      .selectFrom('agent_sessions')
      .select(['state', 'error_code'])
      .where('id', '=', sessionId)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { state: 'interrupted', error_code: 'shutdown' });

    await stack.start();
    const resumed = await stack.stream(`/v1/agent/sessions/${sessionId}/resume`, {});
    assert.equal(resumed.events.at(-1)?.type, 'done');
    const detail = await stack.api<AgentSessionDetail>('GET', `/v1/agent/sessions/${sessionId}`);
    assert.deepEqual([detail.body.state, detail.body.resumes, detail.body.errorCode], ['done', 1, null]);
  });

  test("an agent token sees and resumes only its own sessions; others' answer as missing", async () => {
    model.script('[task:own]', [{ text: 'nothing to do' }]);
    const own = await stack.stream('/v1/agent/run', { task: 'idle [task:own]' });
    const sessionId = own.events[0]!.sessionId;
    const created = await stack.api<{ token: string }>('POST', '/v1/tokens', { role: 'agent', name: 'other-agent' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const asOther = (path: string) =>
      fetch(`${stack.url()}${path}`, { headers: { authorization: `Bearer ${created.body.token}` } });
    const list = (await (await asOther('/v1/agent/sessions')).json()) as AgentSessionList;
    assert.equal(
      list.sessions.some((s) => s.id === sessionId),
      false,
    );
    assert.equal((await asOther(`/v1/agent/sessions/${sessionId}`)).status, 404);
    const operatorView = await stack.api<AgentSessionDetail>('GET', `/v1/agent/sessions/${sessionId}`);
    assert.equal(operatorView.status, 200);
    assert.equal(operatorView.body.state, 'done');
    assert.ok(operatorView.body.durationMs >= 0);
  });
});
