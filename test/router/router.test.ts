import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { FleetConfig } from '@handoff/contracts';
import { parseMeminfo, parseVmStat } from '@handoff/router';
import { startFakeOpenAI } from '../fakes/openaiServer.ts';
import type { FakeOpenAI, FakeOpenAIOptions } from '../fakes/openaiServer.ts';
import { mountRouter } from './harness.ts';
import type { MountedRouter } from './harness.ts';

/**
 * The router mounted in a bare Fastify (no Postgres, no auth): routing, failover, timeouts, health,
 * translation. test/router/coordinator.test.ts covers it inside the real coordinator.
 */

const silent = pino({ level: 'silent' });
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Harness extends MountedRouter {
  clock: { t: number; now(): number };
  memory: { gb: number | null };
  setFleet(raw: unknown): void;
}

const open: { close(): Promise<void> }[] = [];

async function fake(opts: Partial<FakeOpenAIOptions> & { models: FakeOpenAIOptions['models'] }): Promise<FakeOpenAI> {
  const f = await startFakeOpenAI(opts);
  open.push(f);
  return f;
}

async function harness(rawFleet: unknown): Promise<Harness> {
  let fleet = FleetConfig.parse(rawFleet);
  const clock = { t: Date.parse('2026-01-01T00:00:00Z'), now: () => clock.t };
  const memory = { gb: 64 as number | null };
  const mounted = await mountRouter({
    fleet: () => fleet,
    log: silent,
    clock,
    memory: async () => memory.gb,
    probeCheckMs: 0,
  });
  const h: Harness = {
    ...mounted,
    clock,
    memory,
    setFleet: (raw) => {
      fleet = FleetConfig.parse(raw);
    },
  };
  open.push(h);
  return h;
}

const node = (
  id: string,
  f: FakeOpenAI,
  models: { id: string; contextWindow: number; aliases?: string[] }[],
  extra: Json = {},
) => ({
  id,
  baseUrl: f.url,
  kind: 'vllm',
  models,
  ...extra,
});

const hi = [{ role: 'user' as const, content: 'hi' }];

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

async function sseText(res: Response): Promise<string> {
  return await res.text();
}

afterEach(async () => {
  while (open.length > 0)
    await open
      .pop()
      ?.close()
      .catch(() => {});
});

describe('router: chat completions through the official openai client', () => {
  test('a non-streamed chat is answered by the node serving the model, with the routing headers', async () => {
    const a = await fake({ models: [{ id: 'qwen3', contextWindow: 8192 }] });
    const h = await harness({ nodes: [node('a', a, [{ id: 'qwen3', contextWindow: 8192, aliases: ['small'] }])] });
    const { data, response } = await h.client.chat.completions.create({ model: 'small', messages: hi }).withResponse();
    assert.equal(data.choices[0]?.message.content, 'echo: hi');
    assert.equal(response.headers.get('x-handoff-node'), 'a');
    assert.equal(response.headers.get('x-handoff-escalated'), 'no');
    assert.equal(a.requests[0]?.body['model'], 'qwen3', 'the alias is replaced by the id the node knows');
  });

  test('a streamed chat arrives chunk by chunk, not buffered', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }], chunkDelayMs: 40 });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }])] });
    const stream = await h.client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'stream me please' }],
      stream: true,
    });
    const arrivals: number[] = [];
    let text = '';
    for await (const chunk of stream) {
      arrivals.push(performance.now());
      text += chunk.choices[0]?.delta.content ?? '';
    }
    assert.equal(text, 'echo: stream me please');
    assert.ok(arrivals.length >= 6, `chunks: ${arrivals.length}`);
    const first = arrivals[0] ?? 0;
    const last = arrivals[arrivals.length - 1] ?? 0;
    assert.ok(last - first > 150, `chunks came spread over time (${Math.round(last - first)} ms), not in one burst`);
  });

  test('streamed tool calls keep their argument deltas', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }])] });
    const stream = await h.client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [weatherTool],
      stream: true,
    });
    let args = '';
    let deltas = 0;
    let name = '';
    for await (const chunk of stream) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (tc.function?.name) name = tc.function.name;
        if (tc.function?.arguments) {
          args += tc.function.arguments;
          deltas += 1;
        }
      }
    }
    assert.equal(name, 'get_weather');
    assert.ok(deltas > 1, 'arguments came in several deltas');
    assert.deepEqual(JSON.parse(args), { city: 'Paris', unit: 'celsius' });
  });

  test('GET /v1/models lists every model id and alias of the fleet', async () => {
    const a = await fake({ models: [{ id: 'x', contextWindow: 100 }] });
    const h = await harness({
      nodes: [
        node('a', a, [{ id: 'x', contextWindow: 100, aliases: ['x-alias'] }]),
        node('b', a, [
          { id: 'y', contextWindow: 100 },
          { id: 'x', contextWindow: 100 },
        ]),
      ],
    });
    const ids = [];
    for await (const m of h.client.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), ['x', 'x-alias', 'y']);
  });

  test('an unknown model is a 404 and a body without messages a 400 that names the field', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 100 }] });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 100 }])] });
    const unknown = await h.post('/v1/chat/completions', { model: 'nope', messages: hi });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as Json)['error']['code'], 'not_found');
    const bad = await h.post('/v1/chat/completions', { model: 'm' });
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as Json;
    assert.equal(body['error']['code'], 'validation_failed');
    assert.match(body['error']['message'], /body\.messages/);
  });

  test('a body nested deeper than JSON.stringify can take is a 400 naming where, on both APIs', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 100 }] });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 100 }])] });
    const deep = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    for (const [path, text] of [
      ['/v1/chat/completions', `{"model":"m","messages":[{"role":"user","content":${deep(20_000)}}]}`],
      ['/v1/responses', `{"model":"m","input":[{"role":"user","content":[${deep(20_000)}]}]}`],
    ] as const) {
      const res = await fetch(`${h.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: text,
      });
      assert.equal(res.status, 400, path);
      const body = (await res.json()) as Json;
      assert.equal(body['error']['code'], 'validation_failed');
      assert.match(body['error']['message'], /nested deeper than 64 levels/);
    }
  });

  test('a body of very many small values is a 400 naming where, not seconds of validation on the event loop', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 100 }] });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 100 }])] });
    const parts = Array.from({ length: 200_000 }, () => ({ type: 'text', text: 'a' }));
    const manyValues = await h.post('/v1/chat/completions', {
      model: 'm',
      messages: [{ role: 'user', content: parts }],
    });
    assert.equal(manyValues.status, 400);
    const valuesError = ((await manyValues.json()) as Json)['error'];
    assert.equal(valuesError['code'], 'validation_failed');
    assert.match(valuesError['message'], /body\.messages\.0\.content\.\d+: holds more than 100000 JSON values/);
    const messages = Array.from({ length: 10_001 }, () => ({ role: 'user', content: 'a' }));
    for (const [path, body] of [
      ['/v1/chat/completions', { model: 'm', messages }],
      ['/v1/responses', { model: 'm', input: messages }],
    ] as const) {
      const res = await h.post(path, body);
      assert.equal(res.status, 400, path);
      // the Responses input is a string or an array: zod names the field, the union hides why
      assert.match(
        ((await res.json()) as Json)['error']['message'],
        /body\.messages: Too big: expected array to have <=10000 items|body\.input: Invalid input/,
      );
    }
  });
});

describe('router: choosing a node and escalating', () => {
  test('a prompt too large for the small model escalates along the chain, and says why', async () => {
    const small = await fake({ models: [{ id: 'glm-flash', contextWindow: 512 }] });
    const big = await fake({ models: [{ id: 'qwen-80b', contextWindow: 65536 }] });
    const h = await harness({
      nodes: [
        node('small', small, [{ id: 'glm-flash', contextWindow: 512 }]),
        node('big', big, [{ id: 'qwen-80b', contextWindow: 65536 }]),
      ],
      escalation: ['glm-flash', 'qwen-80b'],
    });
    const longPrompt = 'word '.repeat(600);
    const { data, response } = await h.client.chat.completions
      .create({ model: 'glm-flash', messages: [{ role: 'user', content: longPrompt }], max_tokens: 100 })
      .withResponse();
    assert.equal(response.headers.get('x-handoff-node'), 'big');
    assert.equal(response.headers.get('x-handoff-model'), 'qwen-80b');
    assert.equal(response.headers.get('x-handoff-escalated'), 'context_window');
    assert.match(data.choices[0]?.message.content ?? '', /^echo: word/);
    assert.equal(small.requests.length, 0, 'the small node never saw the request');

    // max_tokens counts too: a short prompt with a large max_tokens does not fit the small model.
    const r2 = await h.client.chat.completions
      .create({ model: 'glm-flash', messages: hi, max_tokens: 1000 })
      .withResponse();
    assert.equal(r2.response.headers.get('x-handoff-node'), 'big');

    // Too large for every model on the path: a 400 that says so.
    const huge = await h.post('/v1/chat/completions', { model: 'glm-flash', messages: hi, max_tokens: 100_000 });
    assert.equal(huge.status, 400);
    assert.match(((await huge.json()) as Json)['error']['message'], /needs \d+ tokens/);
  });

  test('a 400 context overflow from the node (its tokenizer counts more) escalates too', async () => {
    const small = await fake({ models: [{ id: 'small', contextWindow: 50 }] });
    const big = await fake({ models: [{ id: 'big', contextWindow: 65536 }] });
    const h = await harness({
      // The file claims more than the server really has.
      nodes: [
        node('s', small, [{ id: 'small', contextWindow: 8192 }]),
        node('b', big, [{ id: 'big', contextWindow: 65536 }]),
      ],
      escalation: ['small', 'big'],
    });
    const { response } = await h.client.chat.completions
      .create({ model: 'small', messages: [{ role: 'user', content: 'tell me '.repeat(40) }], max_tokens: 10 })
      .withResponse();
    assert.equal(response.headers.get('x-handoff-node'), 'b');
    assert.equal(response.headers.get('x-handoff-escalated'), 'context_overflow');
    assert.equal(small.requests.length, 1);
  });

  test('500 and 429 fail over to the next node before the first byte; when all fail, a 503 lists the attempts', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const b = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }]), node('b', b, [{ id: 'm', contextWindow: 8192 }])],
    });
    a.queue.push({ kind: 'status', status: 500 });
    const r1 = await h.client.chat.completions.create({ model: 'm', messages: hi, stream: true }).withResponse();
    for await (const _ of r1.data) void _;
    assert.equal(r1.response.headers.get('x-handoff-node'), 'b');
    assert.equal(r1.response.headers.get('x-handoff-escalated'), 'upstream_error');

    a.queue.push({ kind: 'status', status: 429 });
    const r2 = await h.client.chat.completions.create({ model: 'm', messages: hi }).withResponse();
    assert.equal(r2.response.headers.get('x-handoff-node'), 'b');
    assert.equal(r2.response.headers.get('x-handoff-escalated'), 'rate_limited');

    a.queue.push({ kind: 'status', status: 500 });
    b.queue.push({ kind: 'status', status: 503 });
    const all = await h.post('/v1/chat/completions', { model: 'm', messages: hi });
    assert.equal(all.status, 503);
    const body = (await all.json()) as Json;
    assert.equal(body['error']['code'], 'unavailable');
    assert.deepEqual(
      body['error']['details']['attempts'].map((x: Json) => [x['node'], x['reason']]),
      [
        ['a', 'upstream_error'],
        ['b', 'upstream_error'],
      ],
    );
  });

  test('a client error other than context overflow passes through unchanged, without failover', async () => {
    const a = await fake({ models: [{ id: 'real-name', contextWindow: 8192 }] });
    const b = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }]), node('b', b, [{ id: 'm', contextWindow: 8192 }])],
    });
    const res = await h.post('/v1/chat/completions', { model: 'm', messages: hi });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as Json)['error']['code'], 'model_not_found');
    assert.equal(b.requests.length, 0);
  });

  test('a local node under memory pressure is skipped (injected reading), and used again when memory frees up', async () => {
    const local = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const remote = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({
      nodes: [
        node('mac', local, [{ id: 'm', contextWindow: 8192 }], { local: true }),
        node('remote', remote, [{ id: 'm', contextWindow: 8192 }]),
      ],
      thresholds: { memoryFloorGb: 16 },
    });
    h.memory.gb = 9.5;
    const r1 = await h.client.chat.completions.create({ model: 'm', messages: hi }).withResponse();
    assert.equal(r1.response.headers.get('x-handoff-node'), 'remote');
    assert.equal(r1.response.headers.get('x-handoff-escalated'), 'memory_pressure');
    h.memory.gb = 40;
    const r2 = await h.client.chat.completions.create({ model: 'm', messages: hi }).withResponse();
    assert.equal(r2.response.headers.get('x-handoff-node'), 'mac');
    assert.equal(r2.response.headers.get('x-handoff-escalated'), 'no');
  });

  test('free memory is read from /proc/meminfo on Linux and from vm_stat on macOS', () => {
    assert.equal(
      parseMeminfo('MemTotal:       65536000 kB\nMemFree:  1000 kB\nMemAvailable:   20000000 kB\n'),
      (20000000 * 1024) / 1e9,
    );
    const vm =
      'Mach Virtual Memory Statistics: (page size of 16384 bytes)\nPages free:                               100000.\nPages active:  5.\nPages inactive:                           50000.\nPages speculative:                        10000.\nPages purgeable:                           1000.\n';
    assert.equal(parseVmStat(vm), (161000 * 16384) / 1e9);
    assert.equal(parseMeminfo('nothing'), null);
  });
});

describe('router: timeouts that suit local models', () => {
  test('a hung node is left after its first-byte timeout and the request fails over', async () => {
    const hung = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    hung.defaultBehavior = { kind: 'hang' };
    const b = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({
      nodes: [
        node('hung', hung, [{ id: 'm', contextWindow: 8192 }], { timeouts: { firstByteMs: 300 } }),
        node('b', b, [{ id: 'm', contextWindow: 8192 }]),
      ],
    });
    const t0 = performance.now();
    const { data, response } = await h.client.chat.completions
      .create({ model: 'm', messages: hi, stream: true })
      .withResponse();
    for await (const _ of data) void _;
    assert.equal(response.headers.get('x-handoff-node'), 'b');
    assert.equal(response.headers.get('x-handoff-escalated'), 'first_byte_timeout');
    assert.ok(performance.now() - t0 < 3000);
    const status = h.router.nodes().find((n) => n.id === 'hung');
    assert.match(status?.lastError ?? '', /first byte/);
  });

  test('a long prefill is not cut by the idle timeout: the first token has its own deadline', async () => {
    const slow = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    slow.defaultBehavior = { kind: 'slowFirstToken', ms: 700 };
    const h = await harness({
      nodes: [node('slow', slow, [{ id: 'm', contextWindow: 8192 }], { timeouts: { firstByteMs: 5000, idleMs: 200 } })],
    });
    const stream = await h.client.chat.completions.create({ model: 'm', messages: hi, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(text, 'echo: hi');
  });

  test('a connection dropped mid-stream ends the stream with an error event, without failover', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const b = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    a.queue.push({ kind: 'dropMidStream', afterChunks: 3 });
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }]), node('b', b, [{ id: 'm', contextWindow: 8192 }])],
    });
    const res = await h.post('/v1/chat/completions', { model: 'm', messages: hi, stream: true });
    assert.equal(res.status, 200);
    const text = await sseText(res);
    const events = text.split('\n\n').filter((e) => e.startsWith('data: '));
    assert.equal(events.length, 4, text);
    const last = JSON.parse(events[3]?.slice(6) ?? '{}') as Json;
    assert.equal(last['error']['code'], 'dropped');
    assert.equal(b.requests.length, 0);

    // The official client surfaces it as an error.
    a.queue.push({ kind: 'dropMidStream', afterChunks: 2 });
    const stream = await h.client.chat.completions.create({ model: 'm', messages: hi, stream: true });
    await assert.rejects(async () => {
      for await (const _ of stream) void _;
    }, /node a/);
  });

  test('a stream that goes silent longer than idleMs ends with an idle_timeout error event', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    a.queue.push({ kind: 'stallMidStream', afterChunks: 2 });
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }], { timeouts: { idleMs: 250 } })],
    });
    const res = await h.post('/v1/chat/completions', { model: 'm', messages: hi, stream: true });
    const text = await sseText(res);
    assert.match(text, /"code":"idle_timeout"/);
  });
});

describe('router: health, quarantine and reinstatement (fake clock)', () => {
  test('quarantineAfterFailures consecutive failures (3 here) quarantine a node; probes every reprobeSeconds reinstate it', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const b = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    a.defaultBehavior = { kind: 'status', status: 500 };
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }]), node('b', b, [{ id: 'm', contextWindow: 8192 }])],
      thresholds: { quarantineAfterFailures: 3, reprobeSeconds: 300 },
    });
    for (let i = 0; i < 3; i++) {
      const r = await h.client.chat.completions.create({ model: 'm', messages: hi }).withResponse();
      assert.equal(r.response.headers.get('x-handoff-node'), 'b');
    }
    const state = () => h.router.nodes().find((n) => n.id === 'a');
    assert.equal(state()?.state, 'quarantined');
    assert.equal(state()?.consecutiveFailures, 3);
    assert.match(state()?.lastError ?? '', /HTTP 500/);

    const seen = a.requests.length;
    const r = await h.client.chat.completions.create({ model: 'm', messages: hi }).withResponse();
    assert.equal(r.response.headers.get('x-handoff-escalated'), 'quarantined');
    assert.equal(a.requests.length, seen, 'a quarantined node gets no requests');

    // Not due yet: no probe.
    a.probeFails = true;
    const probesBefore = a.probes;
    h.clock.t += 299_000;
    await h.router.probeDue();
    assert.equal(a.probes, probesBefore);
    // Due, but the probe fails: still quarantined.
    h.clock.t += 2_000;
    await h.router.probeDue();
    assert.equal(a.probes, probesBefore + 1);
    assert.equal(state()?.state, 'quarantined');
    // The next probe succeeds: reinstated, and requests go to it again.
    a.probeFails = false;
    a.defaultBehavior = { kind: 'ok' };
    h.clock.t += 300_000;
    await h.router.probeDue();
    assert.equal(state()?.state, 'healthy');
    assert.equal(state()?.consecutiveFailures, 0);
    assert.ok(state()?.latencyMs !== null);
    const back = await h.client.chat.completions.create({ model: 'm', messages: hi }).withResponse();
    assert.equal(back.response.headers.get('x-handoff-node'), 'a');
  });

  test("a burst of failures opens the node's breaker before quarantine, and the node is skipped", async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const b = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    a.defaultBehavior = { kind: 'status', status: 500 };
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }]), node('b', b, [{ id: 'm', contextWindow: 8192 }])],
    });
    for (let i = 0; i < 5; i++) await h.client.chat.completions.create({ model: 'm', messages: hi });
    const state = h.router.nodes().find((n) => n.id === 'a');
    assert.equal(state?.breaker, 'open');
    assert.equal(state?.state, 'healthy', 'not quarantined: 5 of 10 failures');
    const seen = a.requests.length;
    const r = await h.client.chat.completions.create({ model: 'm', messages: hi }).withResponse();
    assert.equal(r.response.headers.get('x-handoff-escalated'), 'breaker_open');
    assert.equal(a.requests.length, seen);
  });

  test('GET /v1/router/nodes shows state, latency and last error; metrics are on the registry', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192, aliases: ['mm'] }])],
      escalation: [],
    });
    await h.client.chat.completions.create({ model: 'm', messages: hi });
    const res = await fetch(`${h.url}/v1/router/nodes`);
    const body = (await res.json()) as Json;
    assert.equal(body['nodes'][0]['id'], 'a');
    assert.equal(body['nodes'][0]['state'], 'healthy');
    assert.equal(body['nodes'][0]['breaker'], 'closed');
    assert.equal(typeof body['nodes'][0]['latencyMs'], 'number');
    assert.deepEqual(body['nodes'][0]['models'], ['m', 'mm']);
    const text = await h.registry.metrics();
    assert.match(text, /handoff_router_request_duration_seconds_count\{node="a",model="m",outcome="ok"\} 1/);
    assert.match(text, /handoff_router_tokens_total\{node="a",model="m",kind="completion"\} \d+/);
    assert.match(text, /handoff_router_node_up\{node="a"\} 1/);
  });

  test('a changed fleet takes effect on the next request; a node that stays keeps its health', async () => {
    const a = await fake({
      models: [
        { id: 'm', contextWindow: 8192 },
        { id: 'n', contextWindow: 8192 },
      ],
    });
    a.queue.push({ kind: 'status', status: 500 });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }])] });
    await h.post('/v1/chat/completions', { model: 'm', messages: hi });
    assert.equal(h.router.nodes()[0]?.consecutiveFailures, 1);
    h.setFleet({
      nodes: [
        node('a', a, [
          { id: 'm', contextWindow: 8192 },
          { id: 'n', contextWindow: 8192 },
        ]),
      ],
    });
    const ids = (await h.client.models.list()).data.map((m) => m.id).sort();
    assert.deepEqual(ids, ['m', 'n']);
    assert.equal(h.router.nodes()[0]?.consecutiveFailures, 1);
    const r = await h.client.chat.completions.create({ model: 'n', messages: hi });
    assert.equal(r.choices[0]?.message.content, 'echo: hi');
  });
});

describe('router: Responses API', () => {
  test('translated to Chat Completions for a node without Responses: text, tools and tool results', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }])] });
    const { data: plain, response } = await h.client.responses
      .create({ model: 'm', input: 'hello', instructions: 'be brief' })
      .withResponse();
    assert.equal(plain.output_text, 'echo: hello');
    assert.equal(response.headers.get('x-handoff-translated'), 'chat_completions');
    assert.deepEqual(a.requests[0]?.body['messages'], [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hello' },
    ]);

    const tools = [
      {
        type: 'function' as const,
        name: 'get_weather',
        description: 'weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } } },
        strict: false,
      },
    ];
    const call = await h.client.responses.create({
      model: 'm',
      input: [{ role: 'user', content: 'weather in Paris?' }],
      tools,
    });
    const fc = call.output.find((o) => o.type === 'function_call');
    assert.ok(fc && fc.type === 'function_call');
    assert.equal(fc.name, 'get_weather');
    assert.deepEqual(JSON.parse(fc.arguments), { city: 'Paris', unit: 'celsius' });

    const answer = await h.client.responses.create({
      model: 'm',
      tools,
      input: [
        { role: 'user', content: 'weather in Paris?' },
        { type: 'function_call', call_id: fc.call_id, name: fc.name, arguments: fc.arguments },
        { type: 'function_call_output', call_id: fc.call_id, output: '18 C, sunny' },
      ],
    });
    assert.equal(answer.output_text, 'tool said: 18 C, sunny');
    const sent = a.requests[2]?.body['messages'] as Json[];
    assert.equal(sent[1]?.['role'], 'assistant');
    assert.equal(sent[1]?.['tool_calls'][0]['id'], fc.call_id);
    assert.deepEqual(sent[2], { role: 'tool', tool_call_id: fc.call_id, content: '18 C, sunny' });
  });

  test('streamed function calls through translation follow the Responses event sequence', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }])] });
    const tools = [
      { type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: false },
    ];
    const stream = await h.client.responses.create({ model: 'm', input: 'weather?', tools, stream: true });
    const types: string[] = [];
    let args = '';
    let completed: Json | null = null;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.function_call_arguments.delta') args += event.delta;
      if (event.type === 'response.completed') completed = event.response as unknown as Json;
    }
    const distinct = types.filter((t, i) => t !== types[i - 1]);
    assert.deepEqual(distinct, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    assert.deepEqual(JSON.parse(args), { city: 'Paris', unit: 'celsius' });
    assert.equal(completed?.['output'][0]['type'], 'function_call');
    assert.equal(completed?.['output'][0]['arguments'], args);
    assert.ok(completed?.['usage']['output_tokens'] > 0);
  });

  test('streamed text and reasoning through translation', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }], reasoning: 'thinking hard' });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }])] });
    const stream = await h.client.responses.create({ model: 'm', input: 'hello there', stream: true });
    let text = '';
    let reasoning = '';
    let final: Json | null = null;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.reasoning_text.delta') reasoning += event.delta;
      if (event.type === 'response.completed') final = event.response as unknown as Json;
    }
    assert.equal(text, 'echo: hello there');
    assert.equal(reasoning, 'thinking hard');
    assert.deepEqual(
      final?.['output'].map((o: Json) => o['type']),
      ['reasoning', 'message'],
    );
  });

  test('passed through to a node that speaks Responses', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }], responses: true });
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }], { responses: true, kind: 'openai' })],
    });
    const { data, response } = await h.client.responses.create({ model: 'm', input: 'hi' }).withResponse();
    assert.equal(data.output_text, 'native: hi');
    assert.equal(response.headers.get('x-handoff-translated'), 'no');
    assert.equal(a.requests[0]?.path, '/v1/responses');
  });

  test('a stream that drops mid-way ends with an error event', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    a.queue.push({ kind: 'dropMidStream', afterChunks: 3 });
    const h = await harness({ nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }])] });
    const stream = await h.client.responses.create({ model: 'm', input: 'hello there', stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    assert.equal(types[types.length - 1], 'error');
    assert.ok(!types.includes('response.completed'));
  });
});

describe('router: requests as the node sees them', () => {
  test('the API key named by apiKeyEnv is sent as a bearer token; Responses fields are translated or refused by name', async () => {
    const a = await fake({ models: [{ id: 'm', contextWindow: 8192 }] });
    process.env['HANDOFF_TEST_NODE_KEY'] = 'sk-node-secret';
    const h = await harness({
      nodes: [node('a', a, [{ id: 'm', contextWindow: 8192 }], { apiKeyEnv: 'HANDOFF_TEST_NODE_KEY' })],
    });
    await h.client.responses.create({
      model: 'm',
      input: [
        { role: 'developer', content: [{ type: 'input_text', text: 'rules' }] },
        { role: 'user', content: 'x' },
      ],
      max_output_tokens: 50,
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
    });
    const sent = a.requests[0];
    assert.equal(sent?.headers['authorization'], 'Bearer sk-node-secret');
    assert.equal(sent?.body['max_tokens'], 50);
    assert.deepEqual(sent?.body['messages'], [
      { role: 'system', content: 'rules' },
      { role: 'user', content: 'x' },
    ]);
    assert.deepEqual(sent?.body['response_format'], {
      type: 'json_schema',
      json_schema: { name: 'out', schema: { type: 'object' }, strict: true },
    });

    const refused = await h.post('/v1/responses', { model: 'm', input: 'x', tools: [{ type: 'web_search' }] });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as Json)['error']['message'], /body\.tools\.0\.type/);
    delete process.env['HANDOFF_TEST_NODE_KEY'];
  });
});

describe('router: nodes.json schema', () => {
  test('defaults are filled in and a bad file names the field', () => {
    const ok = FleetConfig.parse({
      nodes: [{ id: 'a', baseUrl: 'http://127.0.0.1:1/v1', kind: 'mlx', models: [{ id: 'm', contextWindow: 10 }] }],
    });
    assert.deepEqual(ok.nodes[0]?.timeouts, { firstByteMs: 120_000, idleMs: 60_000, connectMs: 10_000 });
    assert.equal(ok.thresholds.quarantineAfterFailures, 10);
    assert.equal(ok.thresholds.reprobeSeconds, 300);
    assert.equal(ok.thresholds.memoryFloorGb, 16);
    const paths = (raw: unknown): string[] => {
      const r = FleetConfig.safeParse(raw);
      return r.success ? [] : r.error.issues.map((i) => i.path.join('.'));
    };
    assert.deepEqual(
      paths({ nodes: [{ id: 'a', baseUrl: 'http://x/v1', kind: 'tgi', models: [{ id: 'm', contextWindow: 10 }] }] }),
      ['nodes.0.kind'],
    );
    assert.deepEqual(
      paths({ nodes: [{ id: 'a', baseUrl: 'http://x/v1', kind: 'mlx', models: [{ id: 'm', contextWindow: -1 }] }] }),
      ['nodes.0.models.0.contextWindow'],
    );
    assert.deepEqual(paths({ nodes: [], escalation: ['ghost'] }), ['escalation.0']);
  });
});
