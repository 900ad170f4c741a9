import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { pino } from 'pino';
import { startCoordinator } from '@handoff/coordinator';
import type { RunningCoordinator } from '@handoff/coordinator';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';
import { startFakeOpenAI } from '../fakes/openaiServer.ts';
import type { FakeOpenAI } from '../fakes/openaiServer.ts';

/** The router inside the real coordinator: roles, nodes.json and its reload, /metrics. */

/** Warnings the coordinator logs, to check what a refused nodes.json says. */
const warnings: string[] = [];
const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });

describe('router in the coordinator', () => {
  let database: TestDatabase;
  let coordinator: RunningCoordinator;
  let home: string;
  let upstream: FakeOpenAI;
  let operator: string;
  let agent: string;
  let viewer: string;

  const fleet = (models: string[]) => ({
    nodes: [
      {
        id: 'fake',
        baseUrl: upstream.url,
        kind: 'llamacpp',
        models: models.map((id) => ({ id, contextWindow: 8192 })),
      },
    ],
  });

  async function writeNodes(value: unknown): Promise<void> {
    const tmp = join(home, 'nodes.json.tmp');
    await writeFile(tmp, typeof value === 'string' ? value : JSON.stringify(value));
    await rename(tmp, join(home, 'nodes.json'));
  }

  async function modelIds(token: string): Promise<string[]> {
    const client = new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: token, maxRetries: 0 });
    return (await client.models.list()).data.map((m) => m.id).sort();
  }

  async function until(check: () => Promise<boolean>, ms = 6000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await sleep(100);
    }
    assert.fail('condition not met in time');
  }

  before(async () => {
    upstream = await startFakeOpenAI({
      models: [
        { id: 'm1', contextWindow: 8192 },
        { id: 'm2', contextWindow: 8192 },
      ],
    });
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-router-'));
    await writeNodes(fleet(['m1']));
    coordinator = await startCoordinator({ home, databaseUrl: database.url, port: 0, log });
    operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
    const mint = async (role: string): Promise<string> => {
      const res = await fetch(`${coordinator.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
        body: JSON.stringify({ role }),
      });
      assert.equal(res.status, 201);
      return ((await res.json()) as { token: string }).token;
    };
    agent = await mint('agent');
    viewer = await mint('viewer');
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    await upstream?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  test('an agent token may chat; a viewer may list models and nodes but not chat; no token is a 401', async () => {
    const asAgent = new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: agent, maxRetries: 0 });
    const answer = await asAgent.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(answer.choices[0]?.message.content, 'echo: hi');

    assert.deepEqual(await modelIds(viewer), ['m1']);
    const nodes = await fetch(`${coordinator.url}/v1/router/nodes`, { headers: { authorization: `Bearer ${viewer}` } });
    assert.equal(nodes.status, 200);
    assert.equal(((await nodes.json()) as { nodes: { id: string }[] }).nodes[0]?.id, 'fake');
    // what's live shows the model nodes beside everything else
    const live = await fetch(`${coordinator.url}/v1/live`, { headers: { authorization: `Bearer ${viewer}` } });
    const report = (await live.json()) as { modelNodes?: { id: string; state: string }[] };
    assert.deepEqual(
      report.modelNodes?.map((n) => [n.id, n.state]),
      [['fake', 'healthy']],
    );

    const asViewer = new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: viewer, maxRetries: 0 });
    await assert.rejects(
      asViewer.chat.completions.create({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] }),
      (err: { status?: number }) => err.status === 403,
    );
    const anonymous = await fetch(`${coordinator.url}/v1/models`);
    assert.equal(anonymous.status, 401);
  });

  test('nodes.json is reloaded on change; a bad file is refused and the last good fleet keeps serving', async () => {
    await writeNodes(fleet(['m1', 'm2']));
    await until(async () => (await modelIds(viewer)).includes('m2'));

    await writeNodes({ nodes: [{ id: 'fake', baseUrl: upstream.url, kind: 'tgi', models: [] }] });
    await until(async () => warnings.some((w) => w.includes('nodes.json refused')));
    const refusal = warnings.find((w) => w.includes('nodes.json refused')) ?? '';
    assert.match(refusal, /nodes\.0\.kind/);
    assert.match(refusal, /nodes\.0\.models/);
    assert.deepEqual(await modelIds(viewer), ['m1', 'm2'], 'the last good fleet stays');
    const asAgent = new OpenAI({ baseURL: `${coordinator.url}/v1`, apiKey: agent, maxRetries: 0 });
    const answer = await asAgent.chat.completions.create({
      model: 'm2',
      messages: [{ role: 'user', content: 'still here' }],
    });
    assert.equal(answer.choices[0]?.message.content, 'echo: still here');
  });

  test('/metrics carries the router series', async () => {
    const res = await fetch(`${coordinator.url}/metrics`);
    const text = await res.text();
    assert.match(text, /handoff_router_request_duration_seconds_count\{node="fake",model="m1",outcome="ok"\} \d+/);
    assert.match(text, /handoff_router_node_up\{node="fake"\} 1/);
  });
});
