import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FleetConfig } from '@handoff/contracts';
import { createFleetRuntime, createRouterMetrics, dispatch, plan } from '@handoff/router';
import type { Committed, DispatchDeps, FleetRuntime } from '@handoff/router';
import { startFakeOpenAI } from '../fakes/openaiServer.ts';
import type { FakeBehavior, FakeOpenAI } from '../fakes/openaiServer.ts';

/**
 * Dispatch alone: planned candidates in, the committed node (or the refusal) out, against fake
 * nodes. Failover happens only before the first byte; test/router/router.test.ts checks it end to end.
 */

const silent = pino({ level: 'silent' });
const open: { close(): Promise<void> }[] = [];

afterEach(async () => {
  while (open.length > 0)
    await open
      .pop()
      ?.close()
      .catch(() => {});
});

interface Setup {
  fakes: FakeOpenAI[];
  runtime: FleetRuntime;
  send(): Promise<Committed>;
}

/** One fake node per behaviour, all serving model `m`, tried in that order. */
async function setup(behaviours: FakeBehavior[]): Promise<Setup> {
  const fakes: FakeOpenAI[] = [];
  for (const b of behaviours) {
    const f = await startFakeOpenAI({ models: [{ id: 'm', contextWindow: 8192 }] });
    f.defaultBehavior = b;
    open.push(f);
    fakes.push(f);
  }
  const fleet = FleetConfig.parse({
    nodes: fakes.map((f, i) => ({
      id: `n${i}`,
      baseUrl: f.url,
      kind: 'vllm',
      models: [{ id: 'm', contextWindow: 8192 }],
    })),
  });
  const runtime = createFleetRuntime(() => fleet, { now: () => Date.now() });
  open.push(runtime);
  runtime.current();
  const deps: DispatchDeps = { node: (id) => runtime.node(id), env: {}, metrics: createRouterMetrics(), log: silent };
  const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
  return {
    fakes,
    runtime,
    async send() {
      const planned = plan({ model: 'm', need: 10 }, runtime.snapshot(fleet, null));
      assert.ok(planned.ok);
      const c = await dispatch(
        deps,
        fleet,
        'm',
        planned,
        () => ({ path: '/chat/completions', body, translate: false }),
        undefined,
      );
      // the committed answer is the test's to drain
      open.push({ close: async () => void (await c.opened.rest.return()) });
      return c;
    },
  };
}

describe('dispatch', () => {
  test('a node that fails before its first byte is left for the next, the failure counted and the reason kept', async () => {
    const s = await setup([{ kind: 'status', status: 500 }, { kind: 'ok' }]);
    const c = await s.send();
    assert.equal(c.server.node.id, 'n1');
    assert.equal(c.opened.status, 200);
    assert.equal(c.escalated, 'upstream_error');
    assert.equal(c.clientError, null);
    assert.equal(s.runtime.node('n0')?.health.consecutiveFailures, 1);
    assert.equal(s.runtime.node('n1')?.health.consecutiveFailures, 0);
  });

  test("a 429 is left for the next node without counting against the node's health", async () => {
    const s = await setup([{ kind: 'status', status: 429 }, { kind: 'ok' }]);
    const c = await s.send();
    assert.equal(c.server.node.id, 'n1');
    assert.equal(c.escalated, 'rate_limited');
    assert.equal(s.runtime.node('n0')?.health.consecutiveFailures, 0);
  });

  test('a client error other than context overflow commits at once, its body read whole, and no other node is asked', async () => {
    const s = await setup([{ kind: 'badRequest', message: 'temperature must be at most 2' }, { kind: 'ok' }]);
    const c = await s.send();
    assert.equal(c.server.node.id, 'n0');
    assert.equal(c.opened.status, 400);
    assert.match(c.clientError?.toString('utf8') ?? '', /temperature must be at most 2/);
    assert.equal(c.escalated, null);
    assert.equal(s.fakes[1]?.requests.length, 0);
  });

  test('a 400 saying the context is too long is left for the next node, as context_overflow', async () => {
    const s = await setup([
      { kind: 'badRequest', message: "This model's maximum context length is 8192 tokens" },
      { kind: 'ok' },
    ]);
    const c = await s.send();
    assert.equal(c.server.node.id, 'n1');
    assert.equal(c.escalated, 'context_overflow');
  });

  test('when every node fails, a 503 lists each attempt with its reason', async () => {
    const s = await setup([
      { kind: 'status', status: 503 },
      { kind: 'status', status: 429 },
    ]);
    await assert.rejects(
      s.send(),
      (err: { status: number; code: string; details: { attempts: { node: string; reason: string }[] } }) => {
        assert.equal(err.status, 503);
        assert.equal(err.code, 'unavailable');
        assert.deepEqual(
          err.details.attempts.map((a) => `${a.node}:${a.reason}`),
          ['n0:upstream_error', 'n1:rate_limited'],
        );
        return true;
      },
    );
  });
});
