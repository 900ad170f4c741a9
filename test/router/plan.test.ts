import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FleetConfig } from '@handoff/contracts';
import { escalationPath, plan } from '@handoff/router';
import type { Availability, FleetSnapshot, Plan } from '@handoff/router';

/**
 * The plan alone: a request and a snapshot of the fleet in, the candidates in order (or a refusal)
 * out, with no node, clock or network. test/router/router.test.ts checks the same rules end to end.
 */

const model = (id: string, contextWindow: number, aliases: string[] = []) => ({ id, contextWindow, aliases });
const node = (id: string, models: ReturnType<typeof model>[], extra: Record<string, unknown> = {}) => ({
  id,
  baseUrl: `http://127.0.0.1:9/${id}/v1`,
  kind: 'vllm',
  models,
  ...extra,
});

/** Every node available and 64 GB free, unless `down` / `freeGb` say otherwise. */
function snapshot(
  raw: unknown,
  opts: { down?: Record<string, Availability>; freeGb?: number | null } = {},
): FleetSnapshot {
  const fleet = FleetConfig.parse(raw);
  const availability = new Map<string, Availability>(fleet.nodes.map((n) => [n.id, opts.down?.[n.id] ?? null]));
  return { fleet, availability, freeGb: opts.freeGb === undefined ? 64 : opts.freeGb };
}

/** `node/model` of each candidate, in order. */
function order(p: Plan): string[] {
  assert.ok(p.ok, p.ok ? '' : p.refusal.message);
  return p.candidates.map((s) => `${s.node.id}/${s.model.id}`);
}

function refusal(p: Plan): { status: number; code: string; details: unknown } {
  assert.ok(!p.ok, 'expected a refusal');
  return { status: p.refusal.status, code: p.refusal.code, details: p.refusal.details };
}

const chainFleet = {
  nodes: [
    node('small-a', [model('small', 4096, ['s'])]),
    node('mid', [model('medium', 16384)]),
    node('small-b', [model('small', 4096)]),
    node('big', [model('large', 131072), model('medium', 16384)]),
  ],
  escalation: ['small', 'medium', 'large'],
};

describe('plan: the order candidates are tried in', () => {
  test('the nodes serving the requested model come first, in file order, then the models after it on the chain', () => {
    const p = plan({ model: 'small', need: 100 }, snapshot(chainFleet));
    assert.deepEqual(order(p), ['small-a/small', 'small-b/small', 'mid/medium', 'big/medium', 'big/large']);
  });

  test("an alias is served by the nodes that list it, and escalates from its model's place on the chain", () => {
    assert.deepEqual(order(plan({ model: 's', need: 100 }, snapshot(chainFleet))), [
      'small-a/small',
      'mid/medium',
      'big/medium',
      'big/large',
    ]);
  });

  test('a model in the middle of the chain escalates only upwards', () => {
    assert.deepEqual(order(plan({ model: 'medium', need: 100 }, snapshot(chainFleet))), [
      'mid/medium',
      'big/medium',
      'big/large',
    ]);
  });

  test('a model not on the chain escalates along the whole chain after its own nodes', () => {
    const fleet = { ...chainFleet, nodes: [...chainFleet.nodes, node('odd', [model('other', 2048)])] };
    assert.deepEqual(order(plan({ model: 'other', need: 100 }, snapshot(fleet))), [
      'odd/other',
      'small-a/small',
      'small-b/small',
      'mid/medium',
      'big/medium',
      'big/large',
    ]);
  });

  test('each node-and-model is on the path once, even when the chain names it twice', () => {
    const fleet = { nodes: [node('a', [model('x', 100, ['x2'])])], escalation: ['x', 'x2'] };
    assert.deepEqual(
      escalationPath(FleetConfig.parse(fleet), 'x').map((s) => s.model.id),
      ['x'],
    );
  });
});

describe('plan: who is passed over, and why', () => {
  test('a candidate whose context window is smaller than the need is skipped with the numbers, and the bigger ones remain', () => {
    const p = plan({ model: 'small', need: 5000 }, snapshot(chainFleet));
    assert.deepEqual(order(p), ['mid/medium', 'big/medium', 'big/large']);
    assert.ok(p.ok);
    assert.deepEqual(p.skipped, [
      { node: 'small-a', reason: 'context_window', message: 'needs 5000 tokens, small has 4096' },
      { node: 'small-b', reason: 'context_window', message: 'needs 5000 tokens, small has 4096' },
    ]);
  });

  test('a quarantined node and a node whose breaker is open are passed over with that reason', () => {
    const p = plan(
      { model: 'small', need: 100 },
      snapshot(chainFleet, { down: { 'small-a': 'quarantined', 'small-b': 'breaker_open' } }),
    );
    assert.deepEqual(order(p), ['mid/medium', 'big/medium', 'big/large']);
    assert.ok(p.ok);
    assert.deepEqual(p.skipped, [
      { node: 'small-a', reason: 'quarantined' },
      { node: 'small-b', reason: 'breaker_open' },
    ]);
  });

  test('the size is judged before health: a node too small and down says context_window', () => {
    const p = plan({ model: 'small', need: 5000 }, snapshot(chainFleet, { down: { 'small-a': 'quarantined' } }));
    assert.ok(p.ok);
    assert.equal(p.skipped[0]?.reason, 'context_window');
  });

  test('a local node under the memory floor is skipped; remote nodes are not; an unknown reading skips no one', () => {
    const fleet = {
      nodes: [node('laptop', [model('m', 8192)], { local: true }), node('remote', [model('m', 8192)])],
      thresholds: { memoryFloorGb: 16 },
    };
    const tight = plan({ model: 'm', need: 100 }, snapshot(fleet, { freeGb: 3.25 }));
    assert.deepEqual(order(tight), ['remote/m']);
    assert.ok(tight.ok);
    assert.deepEqual(tight.skipped, [
      { node: 'laptop', reason: 'memory_pressure', message: '3.3 GB free, floor 16 GB' },
    ]);
    assert.deepEqual(order(plan({ model: 'm', need: 100 }, snapshot(fleet, { freeGb: 16 }))), ['laptop/m', 'remote/m']);
    assert.deepEqual(order(plan({ model: 'm', need: 100 }, snapshot(fleet, { freeGb: null }))), [
      'laptop/m',
      'remote/m',
    ]);
  });

  test('a node the runtime does not know yet is no candidate', () => {
    const s = snapshot(chainFleet);
    const availability = new Map(s.availability);
    availability.delete('small-a');
    assert.deepEqual(order(plan({ model: 'small', need: 100 }, { ...s, availability })), [
      'small-b/small',
      'mid/medium',
      'big/medium',
      'big/large',
    ]);
  });
});

describe('plan: refusals', () => {
  test('a model no node serves is a 404 that points at /v1/models', () => {
    const r = refusal(plan({ model: 'nope', need: 1 }, snapshot(chainFleet)));
    assert.equal(r.status, 404);
    assert.equal(r.code, 'not_found');
  });

  test('a request too big for every window on the path is a 400, listing each node', () => {
    const r = refusal(plan({ model: 'small', need: 200_000 }, snapshot(chainFleet)));
    assert.equal(r.status, 400);
    assert.equal(r.code, 'bad_request');
    const skipped = (r.details as { skipped: { node: string; reason: string }[] }).skipped;
    assert.deepEqual(
      skipped.map((s) => `${s.node}:${s.reason}`),
      [
        'small-a:context_window',
        'small-b:context_window',
        'mid:context_window',
        'big:context_window',
        'big:context_window',
      ],
    );
  });

  test('when any node was passed over for its health, the refusal is a 503 (a retry may help)', () => {
    const down = {
      'small-a': 'quarantined',
      'small-b': 'quarantined',
      mid: 'breaker_open',
      big: 'quarantined',
    } as const;
    const r = refusal(plan({ model: 'small', need: 100 }, snapshot(chainFleet, { down })));
    assert.equal(r.status, 503);
    assert.equal(r.code, 'unavailable');
  });
});

describe('plan: a pure function', () => {
  test('the same request and snapshot give the same plan, and the snapshot is left as it was', () => {
    const s = snapshot(chainFleet, { down: { mid: 'quarantined' }, freeGb: 1 });
    const before = JSON.stringify({ fleet: s.fleet, availability: [...s.availability], freeGb: s.freeGb });
    const first = plan({ model: 'small', need: 5000 }, s);
    const second = plan({ model: 'small', need: 5000 }, s);
    assert.deepEqual(first, second);
    assert.equal(JSON.stringify({ fleet: s.fleet, availability: [...s.availability], freeGb: s.freeGb }), before);
  });
});
