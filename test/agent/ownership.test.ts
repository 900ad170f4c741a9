import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentEvent } from '@handoff/contracts';
import { eventsOf, processesWith, sleepersWith, startAgentStack } from '../support/agent.ts';
import type { AgentStack } from '../support/agent.ts';
import { waitFor } from '../support/stack.ts';
import { startPipeline } from '../support/pipeline.ts';
import type { PipelineHarness } from '../support/pipeline.ts';
import {
  createIntentBatcher,
  InvalidIntent,
  MAX_INTENT_PAYLOAD_BYTES,
  payloadHash,
  type NewIntent,
} from '@handoff/intents';
// Not on the package's surface by name (it is one of TOOLS): the tool itself, driven directly.
import { proposeIntentTool } from '../../libs/agent/tools/proposeIntent.ts';
import type { ToolContext } from '@handoff/agent';

/**
 * The agent endpoints and tools answer for the caller's own things only (issue 9): an agent token
 * stops only the sessions it started (another's answers 404, like a missing one), and a run's
 * intent_status reads only intents its own token created. propose_intent takes exactly what
 * POST /v1/intents takes.
 */

describe('agent ownership', () => {
  let stack: AgentStack;
  const tokens: Record<'a' | 'b', { id: string; token: string }> = {} as never;

  before(async () => {
    stack = await startAgentStack();
    for (const who of ['a', 'b'] as const) {
      // a hostile label: names are for display and decide nothing
      const minted = await stack.api<{ id: string; token: string }>('POST', '/v1/tokens', {
        role: 'agent',
        name: `operator-${who}`,
      });
      assert.equal(minted.status, 201, JSON.stringify(minted.body));
      tokens[who] = minted.body;
    }
  });
  after(async () => {
    await stack?.close();
  });

  const approveAll = (event: AgentEvent): Promise<void> => stack.approveAll(event);
  const stopAs = async (
    token: string,
    sessionId: string,
  ): Promise<{ status: number; body: { error?: { code: string } } }> => {
    const res = await fetch(`${stack.coordinator.url}/v1/agent/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sessionId }),
    });
    return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
  };
  const active = async (sessionId: string): Promise<boolean> =>
    (await stack.api<{ activeSessions: { sessionId: string }[] }>('GET', '/v1/agent/health')).body.activeSessions.some(
      (s) => s.sessionId === sessionId,
    );

  /** Runs a long sleep as `owner` and, once it sleeps, hands its session id to `whileRunning`; returns the run's events. */
  async function longRun(
    owner: string,
    label: string,
    whileRunning: (sessionId: string) => Promise<void>,
  ): Promise<{ events: AgentEvent[]; during: Promise<void> }> {
    // digits only: it is part of sleep's argument
    const marker = `${process.pid}${label.length}${Date.now() % 100000}`;
    stack.model.script(`[task:${label}]`, [
      { toolCalls: [{ id: 'long', name: 'bash', arguments: { command: `sleep 6${marker}` } }] },
      { text: 'slept' },
    ]);
    let during: Promise<void> = Promise.resolve();
    const { events } = await stack.run(
      { task: `sleep [task:${label}]` },
      {
        token: owner,
        onEvent: async (event) => {
          await approveAll(event);
          // not awaited: the stream must keep flowing while the test acts on the session
          if (event.type === 'tool_call') {
            during = (async () => {
              await waitFor('the sleep to run', async () => sleepersWith(`6${marker}`).length > 0);
              await whileRunning(event.sessionId);
            })();
          }
        },
      },
    );
    await during;
    await waitFor('the sleep to be gone', async () => processesWith(marker).length === 0);
    return { events, during };
  }

  test("agent token B cannot stop A's session (404, as for a missing one); A can", async () => {
    const { events } = await longRun(tokens.a.token, 'own-a', async (sessionId) => {
      const byB = await stopAs(tokens.b.token, sessionId);
      assert.equal(byB.status, 404, JSON.stringify(byB.body));
      assert.equal(byB.body.error?.code, 'not_found');
      const missing = await stopAs(tokens.b.token, randomUUID());
      assert.deepEqual(Object.keys(byB.body), Object.keys(missing.body));
      assert.equal(await active(sessionId), true, "B's attempt left the session running");
      const byA = await stopAs(tokens.a.token, sessionId);
      assert.equal(byA.status, 200, JSON.stringify(byA.body));
    });
    const last = events.at(-1)!;
    assert.equal(last.type === 'error' && last.code, 'stopped');
  });

  test("an operator stops any agent's session", async () => {
    const { events } = await longRun(tokens.b.token, 'op-stops-b', async (sessionId) => {
      const byOperator = await stopAs(stack.token, sessionId);
      assert.equal(byOperator.status, 200, JSON.stringify(byOperator.body));
    });
    const last = events.at(-1)!;
    assert.equal(last.type === 'error' && last.code, 'stopped');
  });

  /** One run as `token` whose model calls `calls` in one turn; the tool results in call order. */
  async function toolRun(
    token: string,
    label: string,
    calls: { id: string; name: string; arguments: Record<string, unknown> }[],
  ) {
    stack.model.script(`[task:${label}]`, [{ toolCalls: calls }, { text: 'done' }]);
    const run = await stack.run({ task: `act [task:${label}]` }, { token, onEvent: approveAll });
    assert.equal(run.events.at(-1)?.type, 'done', JSON.stringify(run.events.at(-1)));
    return {
      sessionId: run.events[0]!.sessionId,
      results: eventsOf(run.events, 'tool_result'),
      proposed: eventsOf(run.events, 'intent_proposed'),
    };
  }

  test("A's model reads its own intents with intent_status, and not B's, the operator's or a made-up id", async () => {
    const propose = {
      id: 'p',
      name: 'propose_intent',
      arguments: { channel: 'noop', payload: { note: 'mine' }, requires_approval: true },
    };
    const ofA = await toolRun(tokens.a.token, 'status-a1', [propose]);
    const ofB = await toolRun(tokens.b.token, 'status-b1', [propose]);
    const mineId = ofA.proposed[0]!.intentId;
    const theirsId = ofB.proposed[0]!.intentId;
    const operators = await stack.api<{ id: string }>('POST', '/v1/intents', {
      channel: 'noop',
      payload: { n: 1 },
      idempotencyKey: `op-${randomUUID()}`,
      requiresApproval: true,
    });
    assert.equal(operators.status, 201);
    const madeUp = randomUUID();

    const rows = await stack.tdb.db
      .selectFrom('intents')
      .select(['id', 'created_by'])
      .where('id', 'in', [mineId, theirsId])
      .execute();
    assert.deepEqual(
      new Map(rows.map((r) => [r.id, r.created_by])),
      new Map([
        [mineId, `agent:${tokens.a.id}`],
        [theirsId, `agent:${tokens.b.id}`],
      ]),
    );

    // a later session of the same token still reads what an earlier one proposed
    const check = await toolRun(
      tokens.a.token,
      'status-a2',
      [mineId, theirsId, operators.body.id, madeUp].map((id, i) => ({
        id: `s${i}`,
        name: 'intent_status',
        arguments: { intent_id: id },
      })),
    );
    const [mine, theirs, operatorsResult, missing] = check.results;
    assert.equal(mine!.ok, true, mine!.output);
    assert.match(mine!.output, new RegExp(`"id":"${mineId}".*"state":"pending_approval"`));
    for (const [result, id] of [
      [theirs, theirsId],
      [operatorsResult, operators.body.id],
      [missing, madeUp],
    ] as const) {
      assert.equal(result!.ok, false, result!.output);
      // the same answer as for an id that does not exist: nothing about the intent leaks
      assert.equal(result!.output, `no intent ${id} of yours`);
    }

    // the tool-call audit names each session's token by role and id, never by the name "operator-a"
    const audited = await stack.tdb.db
      .selectFrom('agent_audit')
      .select(['session_id', 'actor'])
      .where('session_id', 'in', [ofA.sessionId, ofB.sessionId, check.sessionId])
      .execute();
    assert.equal(audited.length, 6);
    for (const row of audited)
      assert.equal(row.actor, `agent:${row.session_id === ofB.sessionId ? tokens.b.id : tokens.a.id}`);
    const lines = readFileSync(join(stack.home, 'agent-audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { session_id: string; actor: string });
    assert.deepEqual(
      new Set(lines.filter((l) => l.session_id === check.sessionId).map((l) => l.actor)),
      new Set([`agent:${tokens.a.id}`]),
    );
  });

  test('propose_intent refuses what POST /v1/intents refuses, naming the field, and the good call in the same turn is written', async () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const bad: Record<string, Record<string, unknown>> = {
      nul: { channel: 'noop', payload: { note: 'a\u0000b' } },
      nulKey: { channel: 'noop', payload: { 'k\u0000': 1 } },
      surrogate: { channel: 'noop', payload: { note: 'x\ud800y' } },
      deep: { channel: 'noop', payload: deep as Record<string, unknown> },
      schema: { channel: 'webhook', payload: { method: 'POST' } },
    };
    const calls = [
      ...Object.entries(bad).map(([id, args]) => ({ id, name: 'propose_intent', arguments: args })),
      { id: 'good', name: 'propose_intent', arguments: { channel: 'noop', payload: { note: 'fine' } } },
    ];
    const { sessionId, results } = await toolRun(tokens.a.token, 'bad-payloads', calls);
    const byId = new Map(results.map((r) => [r.toolCallId, r]));
    const expected: Record<string, RegExp> = {
      nul: /validation_failed.*payload\.note: must not contain NUL/,
      nulKey: /validation_failed.*payload\.k.*key must not contain NUL/,
      surrogate: /validation_failed.*payload\.note: .*surrogates/,
      deep: /validation_failed.*payload(\.d)+: nested deeper than 64 levels/,
      schema: /validation_failed.*payload\.url/,
    };
    for (const [id, pattern] of Object.entries(expected)) {
      const r = byId.get(id)!;
      assert.equal(r.ok, false, `${id}: ${r.output}`);
      assert.match(r.output, pattern, id);
    }
    assert.equal(byId.get('good')!.ok, true, byId.get('good')!.output);
    const written = await stack.tdb.db
      .selectFrom('intents')
      .select(['idempotency_key', 'created_by'])
      .where('idempotency_key', 'like', `agent:${sessionId}:%`)
      .execute();
    assert.deepEqual(written, [{ idempotency_key: `agent:${sessionId}:good`, created_by: `agent:${tokens.a.id}` }]);
  });
});

describe('one bad create fails only itself', () => {
  let pipeline: PipelineHarness;
  before(async () => {
    pipeline = await startPipeline();
  });
  after(async () => {
    await pipeline?.close();
  });

  /** A create as the service builds it, with the payload JSON text given as is (so Postgres is the judge). */
  const row = (label: string, payloadJson: string): NewIntent => {
    const id = randomUUID();
    return {
      row: {
        id,
        idempotency_key: `batch-${label}-${id}`,
        channel: 'noop',
        account: 'default',
        payload: payloadJson,
        payload_hash: payloadHash('noop', 'default', label),
        state: 'approved',
        requires_approval: false,
        created_by: 'agent:00000000-0000-4000-8000-000000000000',
        not_before: null,
        run_after: null,
        max_attempts: 3,
        state_reason: 'test',
      },
      ticket: true,
      notBefore: null,
    };
  };

  test('a row Postgres refuses, written in the same group as good ones, fails alone with a 400', async () => {
    const insert = createIntentBatcher(pipeline.tdb.db, pipeline.boss);
    const payloads: Record<string, string> = {
      'good-1': '{"n":1}',
      nul: '{"note":"a\\u0000b"}',
      'good-2': '{"n":2}',
      surrogate: '{"s":"\\ud800"}',
      broken: '{"n":',
      'good-3': '{"n":3}',
    };
    const creates = Object.entries(payloads).map(([label, json]) => row(label, json));
    // one tick: the batcher writes them as one group
    const outcomes = await Promise.allSettled(creates.map((c) => insert(c)));
    const byLabel = new Map(Object.keys(payloads).map((label, i) => [label, outcomes[i]!]));
    for (const good of ['good-1', 'good-2', 'good-3']) {
      const outcome = byLabel.get(good)!;
      assert.equal(
        outcome.status,
        'fulfilled',
        `${good}: ${outcome.status === 'rejected' ? String(outcome.reason) : ''}`,
      );
      assert.equal(outcome.status === 'fulfilled' && outcome.value.created, true);
    }
    for (const bad of ['nul', 'surrogate', 'broken']) {
      const outcome = byLabel.get(bad)!;
      assert.equal(outcome.status, 'rejected', bad);
      const err = (outcome as PromiseRejectedResult).reason as InvalidIntent;
      // InvalidIntent is what the coordinator answers with a 400 (apps/coordinator/errors.ts)
      assert.ok(err instanceof InvalidIntent, `${bad}: ${String(err)}`);
      assert.equal(err.code, 'validation_failed');
      assert.match(err.message, /^payload: Postgres cannot store this intent/);
    }
    const written = await pipeline.tdb.db
      .selectFrom('intents')
      .select('id')
      .where(
        'id',
        'in',
        creates.map((c) => c.row.id),
      )
      .execute();
    const goodIds = creates.filter((c) => c.row.idempotency_key.startsWith('batch-good-')).map((c) => c.row.id);
    assert.deepEqual(new Set(written.map((w) => w.id)), new Set(goodIds));
    // the good ones are approved at birth, so each has its wake-up ticket
    const tickets = await pipeline.tdb.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pgboss.job WHERE data->>'intentId' = ANY($1)`,
      [written.map((w) => w.id)],
    );
    assert.equal(Number(tickets.rows[0]!.n), 3);
  });

  test('propose_intent refuses a payload over the size an intent may hold, as the service does for every caller', async () => {
    const ctx = {
      sessionId: randomUUID(),
      toolCallId: 'big',
      actor: 'agent:00000000-0000-4000-8000-000000000000',
      intents: pipeline.service,
      emit: () => {},
    } as unknown as ToolContext;
    const big = await proposeIntentTool.run(
      { channel: 'noop', payload: { blob: 'z'.repeat(MAX_INTENT_PAYLOAD_BYTES) } },
      ctx,
    );
    assert.equal(big.ok, false);
    assert.match(
      big.output,
      new RegExp(
        `validation_failed\\): payload is ${MAX_INTENT_PAYLOAD_BYTES + 11} bytes of JSON; an intent holds at most ${MAX_INTENT_PAYLOAD_BYTES}`,
      ),
    );
    const fits = await proposeIntentTool.run(
      { channel: 'noop', payload: { blob: 'z'.repeat(MAX_INTENT_PAYLOAD_BYTES - 11) } },
      { ...ctx, toolCallId: 'fits' },
    );
    assert.equal(fits.ok, true, fits.output);
  });
});
