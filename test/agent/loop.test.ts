import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentEvent } from '@handoff/contracts';
import { eventsOf, processesWith, sleepersWith, startAgentStack } from '../support/agent.ts';
import type { AgentStack } from '../support/agent.ts';
import { waitFor } from '../support/stack.ts';

/**
 * Full runs of the agent loop through the real coordinator (HTTP, SSE), a scripted fake model,
 * real bash processes and the real database. The guard is whatever libs/agent/guard gives: tests
 * approve an `ask` when the command is harmless, so they pass with the provisional guard (asks for
 * everything) and with the real one (allows `ls`, denies `rm -rf /`).
 */

describe('agent loop', () => {
  let stack: AgentStack;

  before(async () => {
    stack = await startAgentStack();
  });
  after(async () => {
    await stack?.close();
  });

  const approveAll = (event: AgentEvent): Promise<void> => stack.approveAll(event);

  const toolMessages = (messages: { role: string; content?: unknown; tool_call_id?: string }[]) =>
    messages.filter((m) => m.role === 'tool');

  test('a multi-step file task really writes, edits and reads files and reports usage', async () => {
    const script = stack.model.script('[task:files]', [
      {
        text: 'I will write the file and look at it.',
        toolCalls: [
          { id: 'w1', name: 'write_file', arguments: { path: 'notes/a.txt', content: 'hello world\n' } },
          { id: 'b1', name: 'bash', arguments: { command: 'ls notes && cat notes/a.txt' } },
        ],
      },
      {
        toolCalls: [
          {
            id: 'e1',
            name: 'edit_file',
            arguments: { path: 'notes/a.txt', old_string: 'world', new_string: 'handoff' },
          },
        ],
      },
      { toolCalls: [{ id: 'r1', name: 'read_file', arguments: { path: 'notes/a.txt' } }] },
      { text: 'Done: notes/a.txt says hello handoff.' },
    ]);
    mkdirSync(join(stack.workspace, 'files'), { recursive: true });
    const { status, events } = await stack.run(
      { task: 'Write a note [task:files]', workingDir: 'files' },
      { onEvent: approveAll },
    );
    assert.equal(status, 200);

    assert.equal(readFileSync(join(stack.workspace, 'files/notes/a.txt'), 'utf8'), 'hello handoff\n');
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'session_started');
    assert.equal(types.at(-1), 'done');
    const sessionId = events[0]!.sessionId;
    assert.ok(
      events.every((e, i) => e.sessionId === sessionId && e.seq === i + 1),
      'every event carries the session id and the next seq',
    );
    assert.equal(
      eventsOf(events, 'text_delta')
        .map((e) => e.text)
        .join(''),
      'I will write the file and look at it.Done: notes/a.txt says hello handoff.',
    );

    const results = eventsOf(events, 'tool_result');
    assert.deepEqual(
      results.map((r) => [r.toolCallId, r.name, r.ok]),
      [
        ['w1', 'write_file', true],
        ['b1', 'bash', true],
        ['e1', 'edit_file', true],
        ['r1', 'read_file', true],
      ],
    );
    assert.equal(results[1]!.exitCode, 0);

    // What the model was sent back: each result under its call's id.
    const second = toolMessages(script.requests[1]!.messages);
    assert.deepEqual(
      second.map((m) => m.tool_call_id),
      ['w1', 'b1'],
    );
    assert.match(String(second[1]!.content), /a\.txt\nhello world\n/);
    assert.match(String(toolMessages(script.requests[3]!.messages).at(-1)!.content), /hello handoff/);
    const tools = (script.requests[0]!.body['tools'] as { function: { name: string } }[]).map((t) => t.function.name);
    assert.deepEqual(tools.sort(), [
      'bash',
      'edit_file',
      'glob',
      'grep',
      'intent_status',
      'propose_intent',
      'read_file',
      'write_file',
    ]);

    const done = eventsOf(events, 'done')[0]!;
    assert.equal(done.summary, 'Done: notes/a.txt says hello handoff.');
    assert.equal(done.usage.turns, 4);
    assert.ok(done.usage.promptTokens > 0 && done.usage.completionTokens > 0);
    assert.equal(done.usage.totalTokens, done.usage.promptTokens + done.usage.completionTokens);
  });

  test('malformed tool calls (bad JSON, unknown tool, wrong arguments) are fed back and the run goes on', async () => {
    const script = stack.model.script('[task:malformed]', [
      {
        toolCalls: [
          { id: 'bad-json', name: 'write_file', arguments: '{"path": "x.txt", "content": ' },
          { id: 'unknown', name: 'launch_rockets', arguments: { count: 3 } },
          { id: 'wrong', name: 'read_file', arguments: { file: 'x.txt' } },
          { name: 'edit_file', arguments: { path: 'x.txt', old_string: 42 } },
        ],
        usage: false,
      },
      { toolCalls: [{ id: 'fixed', name: 'write_file', arguments: { path: 'x.txt', content: 'ok' } }] },
      { text: 'recovered' },
    ]);
    const { events } = await stack.run({ task: 'be sloppy [task:malformed]', workingDir: 'malformed' });
    assert.equal(events.at(-1)!.type, 'done', JSON.stringify(events.at(-1)));
    const results = eventsOf(events, 'tool_result');
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, false, false, false, true],
    );
    const fed = toolMessages(script.requests[1]!.messages).map((m) => String(m.content));
    assert.match(fed[0]!, /not valid JSON/);
    assert.match(fed[1]!, /no tool "launch_rockets"/);
    assert.match(fed[2]!, /invalid arguments for read_file/);
    assert.match(fed[2]!, /path/);
    assert.match(fed[3]!, /invalid arguments for edit_file/);
    // a call without an id got one, and its result came back under it
    assert.equal(results[3]!.toolCallId, toolMessages(script.requests[1]!.messages)[3]!.tool_call_id);
    assert.equal(readFileSync(join(stack.workspace, 'malformed/x.txt'), 'utf8'), 'ok');
    // the turn without usage from the server still counts (the router, or else the loop, estimates it)
    assert.ok(eventsOf(events, 'done')[0]!.usage.promptTokens > 0);
  });

  test('a stop in the middle of a long command kills its whole process group and is audited', async () => {
    const marker = `${process.pid}${Date.now() % 100000}`;
    stack.model.script('[task:stop]', [
      {
        toolCalls: [
          {
            id: 'long',
            name: 'bash',
            arguments: { command: `sleep 3${marker} & sleep 4${marker} & wait; echo never` },
          },
        ],
      },
      { text: 'should not get here' },
    ]);
    let stopping: Promise<{ status: number; body: unknown }> | undefined;
    const { events } = await stack.run(
      { task: 'wait forever [task:stop]' },
      {
        onEvent: async (event) => {
          await approveAll(event);
          // not awaited: the stream must keep flowing (an approval may come first)
          if (event.type === 'tool_call') {
            stopping = (async () => {
              await waitFor(
                'both sleeps to run',
                async () => sleepersWith(`3${marker}`).length > 0 && sleepersWith(`4${marker}`).length > 0,
              );
              return stack.api('POST', '/v1/agent/stop', { sessionId: event.sessionId });
            })();
          }
        },
      },
    );
    const stopAnswer = await stopping;
    assert.equal(stopAnswer?.status, 200, JSON.stringify(stopAnswer?.body));
    const last = events.at(-1)!;
    assert.equal(last.type, 'error');
    assert.equal(last.type === 'error' && last.code, 'stopped');
    await waitFor('the process group to be gone', async () => processesWith(`${marker}`).length === 0);
    const result = eventsOf(events, 'tool_result')[0]!;
    assert.equal(result.ok, false);
    assert.match(result.output, /stopped/);

    const rows = await stack.tdb.db
      .selectFrom('agent_audit')
      .selectAll()
      .where('session_id', '=', last.sessionId)
      .execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.decision, 'stopped');
    assert.equal(rows[0]!.tool_name, 'bash');
    const lines = readFileSync(join(stack.home, 'agent-audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const line = lines.find((l) => l['session_id'] === last.sessionId);
    assert.equal(line?.['decision'], 'stopped');
    assert.equal((line?.['args'] as { command: string }).command.includes(marker), true);
  });

  test('stopping an unknown session is a 404', async () => {
    const res = await stack.api<{ error: { code: string } }>('POST', '/v1/agent/stop', {
      sessionId: '00000000-0000-4000-8000-000000000000',
    });
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'not_found');
  });

  test('a dangerous command is blocked, the model is told, and the block is audited', async () => {
    const script = stack.model.script('[task:blocked]', [
      { toolCalls: [{ id: 'rm', name: 'bash', arguments: { command: 'rm -rf /' } }] },
      { text: 'I will not do that.' },
    ]);
    const { events } = await stack.run(
      { task: 'clean everything [task:blocked]' },
      {
        onEvent: async (event) => {
          // The provisional guard asks (a person says no); the real guard denies outright.
          if (event.type === 'approval_required') {
            const res = await stack.cli(['reject', event.approvalId, '--reason', 'never']);
            assert.equal(res.code, 0, res.stderr);
            assert.match(res.stdout, /rejected command/);
          }
        },
      },
    );
    assert.equal(events.at(-1)!.type, 'done');
    const blocked = eventsOf(events, 'blocked');
    assert.equal(blocked.length, 1);
    assert.equal(blocked[0]!.command, 'rm -rf /');
    assert.ok(['deny', 'rejected'].includes(blocked[0]!.decision));
    assert.match(String(toolMessages(script.requests[1]!.messages)[0]!.content), /blocked/);
    const rows = await stack.tdb.db
      .selectFrom('agent_audit')
      .selectAll()
      .where('session_id', '=', events[0]!.sessionId)
      .execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.blocked, true);
    assert.ok(['deny', 'rejected'].includes(String(rows[0]!.decision)));
  });

  test('an approval granted with `handoff approve <id>` lets the exact command run', async () => {
    stack.model.script('[task:approve]', [
      // eval is never allowed without a person (the guard cannot see through it): it asks
      { toolCalls: [{ id: 'ev', name: 'bash', arguments: { command: "eval 'echo approved-ran > proof.txt'" } }] },
      { text: 'ran it' },
    ]);
    let cli: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
    let pendingListing: Promise<{ code: number | null; stdout: string; stderr: string }> | undefined;
    const { events } = await stack.run(
      { task: 'needs a person [task:approve]', workingDir: 'approve' },
      {
        onEvent: async (event) => {
          if (event.type === 'approval_required') {
            pendingListing = stack.cli(['pending']);
            await pendingListing;
            cli = stack.cli(['approve', event.approvalId, '--reason', 'looks fine']);
            await cli;
          }
        },
      },
    );
    const approval = eventsOf(events, 'approval_required')[0];
    assert.ok(approval, 'the command needed an approval');
    const listing = await pendingListing!;
    assert.equal(listing.code, 0, listing.stderr);
    assert.match(listing.stdout, new RegExp(approval.approvalId));
    assert.match(listing.stdout, /echo approved-ran/);
    const approved = await cli!;
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /approved command/);
    assert.equal(events.at(-1)!.type, 'done');
    assert.equal(readFileSync(join(stack.workspace, 'approve/proof.txt'), 'utf8'), 'approved-ran\n');
    const row = await stack.tdb.db
      .selectFrom('command_approvals')
      .selectAll()
      .where('id', '=', approval.approvalId)
      .executeTakeFirstOrThrow();
    assert.equal(row.state, 'approved');
    assert.equal(row.decision_reason, 'looks fine');
    assert.equal(row.cwd, join(stack.workspace, 'approve'));
    const audit = await stack.tdb.db
      .selectFrom('audit_log')
      .selectAll()
      .where('target', '=', approval.approvalId)
      .execute();
    assert.deepEqual(
      audit.map((a) => a.action),
      ['command.approve'],
    );
    const toolAudit = await stack.tdb.db
      .selectFrom('agent_audit')
      .selectAll()
      .where('session_id', '=', events[0]!.sessionId)
      .executeTakeFirstOrThrow();
    assert.equal(toolAudit.decision, 'approved');
    assert.equal(toolAudit.exit_code, 0);
    // decided once: a second decision is refused
    const again = await stack.api<{ error: { code: string } }>(
      'POST',
      `/v1/agent/approvals/${approval.approvalId}/reject`,
      { reason: 'too late' },
    );
    assert.equal(again.status, 409);
  });

  test('a proposed intent appears in `handoff pending`, and a replayed tool call proposes nothing twice', async () => {
    const call = {
      id: 'same-call',
      name: 'propose_intent',
      arguments: {
        channel: 'noop',
        payload: { note: 'ship it', token: 'sk-abcdefghijklmnop' },
        requires_approval: true,
      },
    };
    const script = stack.model.script('[task:intent]', [
      { toolCalls: [call] },
      { toolCalls: [call] },
      { text: 'proposed' },
    ]);
    const { events } = await stack.run({ task: 'announce [task:intent]' });
    assert.equal(events.at(-1)!.type, 'done');
    const proposed = eventsOf(events, 'intent_proposed');
    assert.equal(proposed.length, 2);
    assert.equal(proposed[0]!.created, true);
    assert.equal(proposed[1]!.created, false);
    assert.equal(proposed[0]!.intentId, proposed[1]!.intentId);
    assert.equal(proposed[0]!.state, 'pending_approval');
    assert.match(String(toolMessages(script.requests[1]!.messages)[0]!.content), /state pending_approval/);
    assert.match(String(toolMessages(script.requests[2]!.messages).at(-1)!.content), /already proposed/);

    const pending = await stack.cli(['pending', '--json']);
    assert.equal(pending.code, 0, pending.stderr);
    const mine = (JSON.parse(pending.stdout) as { intents: { id: string; idempotencyKey: string }[] }).intents.filter(
      (i) => i.idempotencyKey.startsWith(`agent:${events[0]!.sessionId}:`),
    );
    assert.deepEqual(
      mine.map((i) => [i.id, i.idempotencyKey]),
      [[proposed[0]!.intentId, `agent:${events[0]!.sessionId}:same-call`]],
    );

    // the audit never holds the secret-looking value
    const rows = await stack.tdb.db
      .selectFrom('agent_audit')
      .selectAll()
      .where('session_id', '=', events[0]!.sessionId)
      .execute();
    assert.equal(rows.length, 2);
    assert.doesNotMatch(JSON.stringify(rows.map((r) => r.args)), /sk-abcdefghijklmnop/);
    assert.doesNotMatch(readFileSync(join(stack.home, 'agent-audit.jsonl'), 'utf8'), /sk-abcdefghijklmnop/);

    // intent_status reads it back
    stack.model.script('[task:status]', [
      { toolCalls: [{ id: 's', name: 'intent_status', arguments: { intent_id: proposed[0]!.intentId } }] },
      { text: 'ok' },
    ]);
    const status = await stack.run({ task: 'check [task:status]' });
    assert.match(eventsOf(status.events, 'tool_result')[0]!.output, /"state":"pending_approval"/);
  });

  test('a client that disconnects stops its run and the command it was running', async () => {
    const marker = `${process.pid}${(Date.now() + 7) % 100000}`;
    stack.model.script('[task:disconnect]', [
      { toolCalls: [{ id: 'long', name: 'bash', arguments: { command: `sleep 5${marker}` } }] },
    ]);
    const controller = new AbortController();
    let sessionId = '';
    await stack.run(
      { task: 'hang up [task:disconnect]' },
      {
        signal: controller.signal,
        onEvent: async (event) => {
          if (event.type === 'session_started') sessionId = event.sessionId;
          await approveAll(event);
          if (event.type === 'tool_call') {
            void waitFor('the sleep to run', async () => sleepersWith(`5${marker}`).length > 0).then(() =>
              controller.abort(),
            );
          }
        },
      },
    );
    await waitFor('the process to be gone', async () => processesWith(marker).length === 0);
    await waitFor('the session to end', async () => {
      const health = await stack.api<{ activeSessions: { sessionId: string }[] }>('GET', '/v1/agent/health');
      return !health.body.activeSessions.some((s) => s.sessionId === sessionId);
    });
    const row = await waitFor('the audit row', () =>
      stack.tdb.db.selectFrom('agent_audit').selectAll().where('session_id', '=', sessionId).executeTakeFirst(),
    );
    assert.equal(row.decision, 'stopped');
  });

  test('health reports the loop: sandbox, isolation, guard, router', async () => {
    const res = await stack.api<
      Record<string, unknown> & {
        router: { fleetSize: number; reachable: boolean; models: string[] };
        isolation: string;
        sandboxRoot: string;
      }
    >('GET', '/v1/agent/health');
    assert.equal(res.status, 200);
    assert.equal(res.body.sandboxRoot, stack.workspace);
    assert.ok(['bubblewrap', 'unshare', 'none'].includes(res.body.isolation));
    assert.equal(res.body.guardReady, true);
    assert.equal(res.body.router.fleetSize, 1);
    assert.deepEqual(res.body.router.models, ['scripted']);
    assert.equal((res.body.config as { maxTurns: number }).maxTurns, 30);
  });

  test('bad requests are refused naming the field: a missing task, a workingDir outside the sandbox', async () => {
    const noTask = await stack.run({ workingDir: 'x' });
    assert.equal(noTask.status, 400);
    assert.match(JSON.stringify(noTask.error), /body\.task/);
    for (const workingDir of ['/etc', '..', '../..', 'a/../../b']) {
      const wider = await stack.run({ task: 'escape', workingDir });
      assert.equal(wider.status, 400, workingDir);
      assert.equal(wider.error!.error.code, 'outside_sandbox');
      assert.match(JSON.stringify(wider.error!.error.details), /body\.workingDir/);
    }
    const viewer = await stack.api<{ token: string }>('POST', '/v1/tokens', {
      role: 'viewer',
      name: 'agent-test-viewer',
    });
    assert.equal(viewer.status, 201, JSON.stringify(viewer.body));
    const asViewer = await fetch(`${stack.coordinator.url}/v1/agent/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${viewer.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'not allowed' }),
    });
    assert.equal(asViewer.status, 403);
    const health = await fetch(`${stack.coordinator.url}/v1/agent/health`, {
      headers: { authorization: `Bearer ${viewer.body.token}` },
    });
    assert.equal(health.status, 200);
    mkdirSync(stack.workspace, { recursive: true });
    writeFileSync(join(stack.workspace, 'a-file'), '');
    const notDir = await stack.run({ task: 'x', workingDir: 'a-file' });
    assert.equal(notDir.status, 400);
    assert.equal(notDir.error!.error.code, 'validation_failed');
    assert.match(JSON.stringify(notDir.error), /body\.workingDir/);
    const badModel = await stack.run({ task: 'x', maxTurns: 0 });
    assert.equal(badModel.status, 400);
    assert.match(JSON.stringify(badModel.error), /body\.maxTurns/);
  });

  test('`handoff agent run` streams the events, as JSON lines or readable lines', async () => {
    stack.model.script('[task:cli-json]', [
      {
        text: 'writing',
        toolCalls: [{ id: 'w', name: 'write_file', arguments: { path: 'cli.txt', content: 'from the cli' } }],
      },
      { text: 'all done' },
    ]);
    const asJson = await stack.cli(['agent', 'run', 'via the CLI [task:cli-json]', '--dir', 'cli', '--json']);
    assert.equal(asJson.code, 0, asJson.stderr);
    const events = asJson.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AgentEvent);
    assert.deepEqual(
      [...new Set(events.map((e) => e.type))],
      ['session_started', 'text_delta', 'tool_call', 'tool_result', 'done'],
    );
    assert.equal(readFileSync(join(stack.workspace, 'cli/cli.txt'), 'utf8'), 'from the cli');

    stack.model.script('[task:cli-text]', [
      { toolCalls: [{ id: 'r', name: 'read_file', arguments: { path: 'cli.txt' } }] },
      { text: 'it says from the cli' },
    ]);
    const readable = await stack.cli(['agent', 'run', 'read it [task:cli-text]', '--dir', 'cli']);
    assert.equal(readable.code, 0, readable.stderr);
    assert.match(readable.stdout, /agent session [0-9a-f-]{36}: model scripted/);
    assert.match(readable.stdout, /> read_file \{"path":"cli.txt"\}/);
    assert.match(readable.stdout, /ok \(\d+ ms\): from the cli/);
    assert.match(readable.stdout, /it says from the cli\ndone in 2 turns/);

    stack.model.script('[task:cli-fail]', [{ status: 500 }]);
    const failed = await stack.cli(['agent', 'run', 'fails [task:cli-fail]']);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /error \(model_error\)/);
  });

  test('the turn limit ends a run that never finishes with error turn_limit', async () => {
    const loop = { toolCalls: [{ name: 'glob', arguments: { pattern: '*' } }] };
    stack.model.script('[task:forever]', [loop, loop, loop, loop]);
    const { events } = await stack.run({ task: 'loop [task:forever]', maxTurns: 2 });
    const last = events.at(-1)!;
    assert.equal(last.type, 'error');
    if (last.type !== 'error') return;
    assert.equal(last.code, 'turn_limit');
    assert.equal(last.usage.turns, 2);
  });

  test('Ctrl-C in `handoff agent run` stops the run and kills its command', async () => {
    const marker = `${process.pid}${(Date.now() + 13) % 100000}`;
    stack.model.script('[task:ctrl-c]', [
      { toolCalls: [{ id: 'long', name: 'bash', arguments: { command: `sleep 6${marker}` } }] },
    ]);
    const child = stack.cli(['agent', 'run', 'interrupt me [task:ctrl-c]'], {
      onStdoutLine: (line) => {
        const approve = /approve: handoff approve (\S+)/.exec(line);
        if (approve) void stack.api('POST', `/v1/agent/approvals/${approve[1]}/approve`, {});
      },
      onSpawn: (proc) => {
        void waitFor('the sleep to run', async () => sleepersWith(`6${marker}`).length > 0).then(() =>
          proc.kill('SIGINT'),
        );
      },
    });
    const result = await child;
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /error \(stopped\)/);
    assert.match(result.stderr, /stopping the agent run/);
    await waitFor('the process to be gone', async () => processesWith(marker).length === 0);
  });

  test('a file written by the agent exists only inside the workspace', () => {
    assert.equal(existsSync(join(stack.home, 'x.txt')), false);
  });
});

describe('agent loop: short approval timeout, small token budget', () => {
  let stack: AgentStack;
  before(async () => {
    stack = await startAgentStack({ agentConfig: { approvals: { timeoutMs: 1500, pollMs: 50 }, tokenBudget: 2000 } });
  });

  test('the token budget ends a run that uses it up with error token_budget', async () => {
    const big = { toolCalls: [{ name: 'write_file', arguments: { path: 'big.txt', content: 'x'.repeat(6000) } }] };
    stack.model.script('[task:budget]', [big, big, big, big]);
    const { events } = await stack.run({ task: 'spend [task:budget]' });
    const last = events.at(-1)!;
    assert.equal(last.type, 'error');
    if (last.type !== 'error') return;
    assert.equal(last.code, 'token_budget');
    assert.ok(last.usage.totalTokens >= 2000);
    assert.ok(last.usage.turns < 4);
  });

  after(async () => {
    await stack?.close();
  });

  test('an approval that times out means deny', async () => {
    stack.model.script('[task:timeout]', [
      { toolCalls: [{ id: 'ev', name: 'bash', arguments: { command: "eval 'echo never > never.txt'" } }] },
      { text: 'gave up' },
    ]);
    const { events } = await stack.run({ task: 'nobody answers [task:timeout]' });
    assert.equal(events.at(-1)!.type, 'done');
    const approval = eventsOf(events, 'approval_required')[0];
    assert.ok(approval);
    const blocked = eventsOf(events, 'blocked')[0];
    assert.equal(blocked?.decision, 'expired');
    assert.equal(blocked?.approvalId, approval.approvalId);
    assert.equal(existsSync(join(stack.workspace, 'never.txt')), false);
    const row = await stack.tdb.db
      .selectFrom('command_approvals')
      .selectAll()
      .where('id', '=', approval.approvalId)
      .executeTakeFirstOrThrow();
    assert.equal(row.state, 'expired');
    // an expired approval cannot be approved afterwards
    const late = await stack.cli(['approve', approval.approvalId]);
    assert.equal(late.code, 1);
    assert.match(late.stderr, /already expired/);
  });
});

describe('agent loop: shutdown', () => {
  test('closing the coordinator ends a running session with error shutdown and kills its command', async () => {
    const stack = await startAgentStack();
    try {
      const marker = `${process.pid}${(Date.now() + 21) % 100000}`;
      // Either the command runs (the real guard allows sleep) or it waits for an approval nobody gives:
      // both last until the coordinator closes.
      stack.model.script('[task:shutdown]', [
        { toolCalls: [{ id: 'cmd', name: 'bash', arguments: { command: `sleep 7${marker}` } }] },
      ]);
      let closing: Promise<void> | undefined;
      const { events } = await stack.run(
        { task: 'run until shutdown [task:shutdown]' },
        {
          onEvent: (event) => {
            if (event.type === 'approval_required' || (event.type === 'tool_call' && !closing)) {
              closing ??= (async () => {
                if (event.type === 'tool_call') {
                  // give the guard a moment to decide; close once the command runs or an approval is asked
                  await waitFor(
                    'the command to run or wait',
                    async () => sleepersWith(`7${marker}`).length > 0 || (await pendingCount(stack)) > 0,
                  );
                }
                await stack.coordinator.close();
              })();
            }
          },
        },
      );
      await closing;
      const last = events.at(-1)!;
      assert.equal(last.type, 'error', JSON.stringify(last));
      assert.equal(last.type === 'error' && last.code, 'shutdown');
      await waitFor('no process left', async () => processesWith(marker).length === 0);
    } finally {
      await stack.close();
    }
  });
});

async function pendingCount(stack: AgentStack): Promise<number> {
  const rows = await stack.tdb.db.selectFrom('command_approvals').select('id').where('state', '=', 'pending').execute();
  return rows.length;
}
