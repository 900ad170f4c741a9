import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FleetConfig } from '@handoff/contracts';
import { createFleetRuntime, createProber } from '@handoff/router';
import type { FleetRuntime } from '@handoff/router';
import { startFakeOpenAI } from '../fakes/openaiServer.ts';
import type { FakeOpenAI } from '../fakes/openaiServer.ts';

/**
 * The fleet runtime (per-node health and pools, following nodes.json) and probing, each alone:
 * a fake clock, no router. test/router/router.test.ts checks quarantine and probes end to end.
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

const node = (id: string, baseUrl = `http://127.0.0.1:9/${id}/v1`, extra: Record<string, unknown> = {}) => ({
  id,
  baseUrl,
  kind: 'vllm',
  models: [{ id: 'm', contextWindow: 8192 }],
  ...extra,
});

function clock(): { t: number; now(): number } {
  const c = { t: Date.parse('2026-01-01T00:00:00Z'), now: () => c.t };
  return c;
}

function runtimeOf(initial: unknown, at = clock()): { runtime: FleetRuntime; setFleet(raw: unknown): void } {
  let fleet = FleetConfig.parse(initial);
  const runtime = createFleetRuntime(() => fleet, at);
  open.push(runtime);
  return {
    runtime,
    setFleet: (raw) => {
      fleet = FleetConfig.parse(raw);
    },
  };
}

describe('fleet runtime', () => {
  test('a node whose entry stays keeps its health; a changed entry keeps it with a new pool; a removed node is forgotten', () => {
    const { runtime, setFleet } = runtimeOf({
      nodes: [node('a'), node('b')],
      thresholds: { quarantineAfterFailures: 2 },
    });
    const fleet = runtime.current();
    const a = runtime.node('a');
    assert.ok(a);
    a.health.recordFailure('boom', fleet.thresholds);
    const agentBefore = a.agent;

    setFleet({ nodes: [node('a'), node('b')], thresholds: { quarantineAfterFailures: 2 } });
    runtime.current();
    assert.equal(runtime.node('a'), a, 'the same entry: the same runtime');
    assert.equal(a.health.consecutiveFailures, 1);
    assert.equal(a.agent, agentBefore, 'the same entry: the same pool');

    setFleet({ nodes: [node('a', 'http://127.0.0.1:10/a/v1')] });
    runtime.current();
    assert.equal(runtime.node('a')?.health.consecutiveFailures, 1, 'a changed entry keeps its health');
    assert.notEqual(runtime.node('a')?.agent, agentBefore, 'a changed entry gets a new pool');
    assert.equal(runtime.node('a')?.health.node.baseUrl, 'http://127.0.0.1:10/a/v1');
    assert.equal(runtime.node('b'), undefined, 'a removed node is forgotten');
    assert.deepEqual(
      runtime.nodes().map((rt) => rt.health.node.id),
      ['a'],
    );
  });

  test('the snapshot says which nodes may take a request now, and carries the memory reading it is given', () => {
    const { runtime } = runtimeOf({ nodes: [node('a'), node('b')], thresholds: { quarantineAfterFailures: 1 } });
    const fleet = runtime.current();
    runtime.node('b')?.health.recordFailure('down', fleet.thresholds);
    const snapshot = runtime.snapshot(fleet, 12.5);
    assert.deepEqual(
      [...snapshot.availability],
      [
        ['a', null],
        ['b', 'quarantined'],
      ],
    );
    assert.equal(snapshot.freeGb, 12.5);
    assert.equal(snapshot.fleet, fleet);
  });
});

describe('probing', () => {
  async function fake(): Promise<FakeOpenAI> {
    const f = await startFakeOpenAI({ models: [{ id: 'm', contextWindow: 8192 }] });
    open.push(f);
    return f;
  }

  test('a due probe that succeeds reinstates a quarantined node; the next probe is due reprobeSeconds later', async () => {
    const f = await fake();
    const at = clock();
    const { runtime } = runtimeOf(
      { nodes: [node('a', f.url)], thresholds: { quarantineAfterFailures: 1, reprobeSeconds: 60 } },
      at,
    );
    const prober = createProber({ runtime, clock: at, env: {}, log: silent, checkMs: 0 });
    open.push(prober);
    const fleet = runtime.current();
    const health = runtime.node('a')?.health;
    assert.ok(health);
    await prober.probeDue();
    assert.equal(f.probes, 1, 'a new node is probed at once');

    health.recordFailure('boom', fleet.thresholds);
    assert.equal(health.state, 'quarantined');
    await prober.probeDue();
    assert.equal(f.probes, 1, 'not due yet');
    at.t += 60_000;
    await prober.probeDue();
    assert.equal(f.probes, 2);
    assert.equal(health.state, 'healthy');
    assert.equal(health.nextProbeAt, at.t + 60_000);
  });

  test('a probe that fails counts like a failed request, and quarantines a node at the threshold', async () => {
    const f = await fake();
    f.probeFails = true;
    const at = clock();
    const { runtime } = runtimeOf({ nodes: [node('a', f.url)], thresholds: { quarantineAfterFailures: 1 } }, at);
    const prober = createProber({ runtime, clock: at, env: {}, log: silent, checkMs: 0 });
    open.push(prober);
    runtime.current();
    await prober.probeDue();
    const health = runtime.node('a')?.health;
    assert.equal(health?.state, 'quarantined');
    assert.match(health?.lastError ?? '', /^probe: HTTP 500/);
  });

  test('a call while a round runs joins it instead of probing again', async () => {
    const f = await fake();
    const at = clock();
    const { runtime } = runtimeOf({ nodes: [node('a', f.url)] }, at);
    const prober = createProber({ runtime, clock: at, env: {}, log: silent, checkMs: 0 });
    open.push(prober);
    const first = prober.probeDue();
    const second = prober.probeDue();
    assert.equal(first, second);
    await first;
    assert.equal(f.probes, 1);
  });
});
