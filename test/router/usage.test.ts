import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import pg from 'pg';
import { pino } from 'pino';
import { RouterUsageReport } from '@handoff/contracts';
import { startCoordinator } from '@handoff/coordinator';
import type { RunningCoordinator } from '@handoff/coordinator';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';
import { startFakeOpenAI } from '../fakes/openaiServer.ts';
import type { FakeOpenAI } from '../fakes/openaiServer.ts';

/**
 * A row per routed request in router_usage (migration 007), written in batches: ok, streamed,
 * escalated, failed, refused by the node and abandoned requests each leave the right row; GET
 * /v1/router/usage and `handoff usage` aggregate them; viewers read, agents and nodes do not.
 */

const repo = fileURLToPath(new URL('../..', import.meta.url));
const silent = pino({ level: 'silent' });

interface UsageRow {
  at: Date;
  token_name: string | null;
  model_asked: string;
  node_id: string | null;
  model_used: string | null;
  escalations: number;
  tokens_in: number | null;
  tokens_out: number | null;
  ttfb_ms: number | null;
  total_ms: number;
  status: string;
}

async function until<T>(check: () => Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) assert.fail('condition not met in time');
    await sleep(50);
  }
}

describe('router usage on record', () => {
  let database: TestDatabase;
  let coordinator: RunningCoordinator;
  let home: string;
  let small: FakeOpenAI;
  let big: FakeOpenAI;
  let operator: string;
  let agent: string;
  let viewer: string;
  /** What each request's answer said it used, in the order sent. */
  const expected: Partial<UsageRow>[] = [];

  const get = (path: string, token: string): Promise<Response> =>
    fetch(coordinator.url + path, { headers: { authorization: `Bearer ${token}` } });

  const usageRows = async (): Promise<UsageRow[]> =>
    (await database.pool.query<UsageRow>('SELECT * FROM router_usage ORDER BY at')).rows;

  before(async () => {
    small = await startFakeOpenAI({ models: [{ id: 'm-small', contextWindow: 8192 }] });
    big = await startFakeOpenAI({ models: [{ id: 'm-big', contextWindow: 32768 }] });
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-router-usage-'));
    await writeFile(
      join(home, 'nodes.json'),
      JSON.stringify({
        nodes: [
          { id: 'small', baseUrl: small.url, kind: 'vllm', models: [{ id: 'm-small', contextWindow: 8192 }] },
          { id: 'big', baseUrl: big.url, kind: 'vllm', models: [{ id: 'm-big', contextWindow: 32768 }] },
        ],
        escalation: ['m-small', 'm-big'],
      }),
    );
    coordinator = await startCoordinator({ home, databaseUrl: database.url, port: 0, log: silent });
    operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
    const mint = async (role: string, name: string): Promise<string> => {
      const res = await fetch(`${coordinator.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ role, name }),
      });
      assert.equal(res.status, 201);
      return ((await res.json()) as { token: string }).token;
    };
    agent = await mint('agent', 'bot');
    viewer = await mint('viewer', 'watcher');
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    await small?.close();
    await big?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test('ok, streamed, escalated, failed, refused and abandoned requests each leave a row with the right node, model and tokens', async () => {
    const client = new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: agent, maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'hello there' }];

    const whole = await client.chat.completions.create({ model: 'm-small', messages });
    expected.push({
      model_asked: 'm-small',
      node_id: 'small',
      model_used: 'm-small',
      escalations: 0,
      tokens_in: whole.usage?.prompt_tokens,
      tokens_out: whole.usage?.completion_tokens,
      status: 'ok',
    });

    const stream = await client.chat.completions.create({
      model: 'm-small',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let streamed: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) streamed = chunk.usage ?? streamed;
    assert.ok(streamed);
    expected.push({
      model_asked: 'm-small',
      node_id: 'small',
      model_used: 'm-small',
      tokens_in: streamed.prompt_tokens,
      tokens_out: streamed.completion_tokens,
      status: 'ok',
    });

    small.queue.push({ kind: 'status', status: 500 });
    const escalated = await client.chat.completions.create({ model: 'm-small', messages });
    assert.equal(escalated.model, 'm-big');
    expected.push({
      model_asked: 'm-small',
      node_id: 'big',
      model_used: 'm-big',
      escalations: 1,
      tokens_in: escalated.usage?.prompt_tokens,
      tokens_out: escalated.usage?.completion_tokens,
      status: 'ok',
    });

    big.queue.push({ kind: 'status', status: 503 });
    await assert.rejects(client.chat.completions.create({ model: 'm-big', messages }), { status: 503 });
    expected.push({ model_asked: 'm-big', node_id: 'big', model_used: null, tokens_in: null, status: 'unavailable' });

    small.queue.push({ kind: 'badRequest', message: 'temperature must be at most 2' });
    await assert.rejects(client.chat.completions.create({ model: 'm-small', messages }), { status: 400 });
    expected.push({ model_asked: 'm-small', node_id: 'small', model_used: 'm-small', status: 'client_error' });

    // the client reads the first chunk and goes away while the node stalls
    small.queue.push({ kind: 'stallMidStream', afterChunks: 1 });
    const controller = new AbortController();
    const res = await fetch(`${coordinator.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm-small', messages, stream: true }),
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    await res.body!.getReader().read();
    controller.abort();
    expected.push({ model_asked: 'm-small', node_id: 'small', model_used: 'm-small', status: 'client_aborted' });

    const rows = await until(async () => {
      const r = await usageRows();
      return r.length >= expected.length && r;
    });
    assert.equal(rows.length, expected.length);
    // rows are written in batches, not in order of the request's end: match them by what they say
    const byStatus = (r: { status?: string; node_id?: string | null; escalations?: number }) =>
      `${r.status}/${r.node_id}/${r.escalations ?? 0}`;
    const sortKey = (a: string, b: string) => a.localeCompare(b);
    assert.deepEqual(rows.map(byStatus).sort(sortKey), expected.map(byStatus).sort(sortKey));
    for (const want of expected) {
      const row = rows.find((r) => byStatus(r) === byStatus(want));
      assert.ok(row);
      for (const [k, v] of Object.entries(want)) assert.equal(row[k as keyof UsageRow], v, `${byStatus(want)}: ${k}`);
      assert.equal(row.token_name, 'bot');
      assert.ok(row.total_ms >= 0);
      if (row.status === 'unavailable') assert.equal(row.ttfb_ms, null);
      else assert.ok(row.ttfb_ms !== null && row.ttfb_ms <= row.total_ms);
    }
    assert.ok(rows.every((r) => (r.status === 'ok' ? r.tokens_in! > 0 && r.tokens_out! > 0 : true)));
  });

  test('GET /v1/router/usage aggregates by node, model, token and day, with totals, for a viewer', async () => {
    const read = async (query: string): Promise<RouterUsageReport> => {
      const res = await get(`/v1/router/usage${query}`, viewer);
      assert.equal(res.status, 200);
      return RouterUsageReport.parse(await res.json());
    };
    const rows = await usageRows();
    const tokensIn = rows.reduce((n, r) => n + (r.tokens_in ?? 0), 0);

    const byNode = await read('?by=node&since=1h');
    assert.equal(byNode.by, 'node');
    const node = (id: string) => byNode.rows.find((r) => r.key === id);
    assert.equal(node('small')?.requests, 4);
    assert.equal(node('small')?.errors, 1);
    assert.equal(node('small')?.clientAborted, 1);
    assert.equal(node('big')?.requests, 2);
    assert.equal(node('big')?.errors, 1);
    assert.equal(node('big')?.escalated, 1);
    assert.equal(byNode.totals.requests, 6);
    assert.equal(byNode.totals.errors, 2);
    assert.equal(byNode.totals.tokensIn, tokensIn);
    assert.ok(byNode.totals.ttfbP50Ms !== null && byNode.totals.totalP95Ms !== null);
    assert.ok(byNode.totals.totalP50Ms! <= byNode.totals.totalP95Ms!);

    const byModel = await read('');
    assert.equal(byModel.by, 'model');
    assert.deepEqual(
      byModel.rows.map((r) => [r.key, r.requests]),
      [
        ['m-small', 5],
        ['m-big', 1],
      ],
    );
    assert.deepEqual(
      (await read('?by=token')).rows.map((r) => [r.key, r.requests]),
      [['bot', 6]],
    );
    const byDay = await read('?by=day&since=7d');
    assert.deepEqual(
      byDay.rows.map((r) => r.key),
      [new Date().toISOString().slice(0, 10)],
    );
    // a window that ends before every row: nothing, but totals and the window's start still come
    await database.pool.query(`UPDATE router_usage SET at = at - interval '2 days'`);
    const empty = await read('?since=1d');
    assert.deepEqual(empty.rows, []);
    assert.equal(empty.totals.requests, 0);
    assert.ok(Date.parse(empty.since) > Date.now() - 86_400_000 - 60_000);
    await database.pool.query(`UPDATE router_usage SET at = at + interval '2 days'`);
  });

  test('a bad query is a 400 naming the field; an agent token is refused; no token is a 401', async () => {
    for (const [query, field] of [
      ['?by=week', 'by'],
      ['?since=3x', 'since'],
      ['?since=-1h', 'since'],
      ['?colour=red', 'colour'],
    ] as const) {
      const res = await get(`/v1/router/usage${query}`, viewer);
      assert.equal(res.status, 400, query);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'validation_failed', query);
      assert.match(JSON.stringify(body.error), new RegExp(`querystring\\.${field}`), query);
    }
    assert.equal((await get('/v1/router/usage', agent)).status, 403);
    assert.equal((await fetch(`${coordinator.url}/v1/router/usage`)).status, 401);
  });

  test('handoff usage prints the table and --json the API answer', async () => {
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(repo, 'apps/cli/src/main.ts'), 'usage', ...args], {
          env: { ...process.env, HANDOFF_URL: coordinator.url, HANDOFF_TOKEN: viewer, HANDOFF_HOME: home },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const table = await cli('--by', 'node', '--since', '24h');
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NODE\s+REQUESTS\s+ERRORS\s+ABORTED\s+ESCALATED\s+TOKENS IN\s+TOKENS OUT\s+TTFB P50/m);
    assert.match(table.stdout, /^small\s+4\s+1\s+1\s+0\s/m);
    assert.match(table.stdout, /^big\s+2\s+1\s+0\s+1\s/m);
    assert.match(table.stdout, /^TOTAL\s+6\s+2\s+1\s+1\s/m);

    const asJson = await cli('--by', 'token', '--json');
    assert.equal(asJson.code, 0, asJson.stderr);
    const report = RouterUsageReport.parse(JSON.parse(asJson.stdout));
    assert.deepEqual(
      report.rows.map((r) => [r.key, r.requests]),
      [['bot', 6]],
    );

    const bad = await cli('--by', 'week');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--by <key>.*week.*model, node, day, token/);
  });

  test("an executor node's database role can neither read nor write the router's tables", async () => {
    const id = `u${randomBytes(5).toString('hex')}`;
    const created = await fetch(`${coordinator.url}/v1/nodes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, accounts: ['webhook:default'] }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { databaseUrl } = (await created.json()) as { databaseUrl: string };
    const client = new pg.Client({ connectionString: databaseUrl });
    client.on('error', () => {});
    await client.connect();
    try {
      for (const statement of [
        'SELECT count(*) FROM router_usage',
        'SELECT count(*) FROM router_node_state',
        `INSERT INTO router_node_state (node_id, quarantined, updated_by) VALUES ('x', true, 'node')`,
        `DELETE FROM router_usage`,
      ]) {
        await assert.rejects(client.query(statement), { code: '42501' }, statement);
      }
    } finally {
      await client.end().catch(() => {});
      await fetch(`${coordinator.url}/v1/nodes/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${operator}` },
      });
      await database.pool.query(`DROP ROLE IF EXISTS "handoff_node_${id}"`).catch(() => undefined);
    }
  });
});
