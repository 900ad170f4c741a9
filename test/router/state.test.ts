import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { FleetConfig } from '@handoff/contracts';
import { startCoordinator } from '@handoff/coordinator';
import type { RunningCoordinator } from '@handoff/coordinator';
import { createDb, createPool } from '@handoff/db';
import { createUsageLog, openNodeStateStore } from '@handoff/router';
import type { NodeStateStore } from '@handoff/router';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';
import { startFakeOpenAI } from '../fakes/openaiServer.ts';
import type { FakeOpenAI } from '../fakes/openaiServer.ts';
import { mountRouter } from './harness.ts';
import type { MountedRouter } from './harness.ts';

/**
 * The router's quarantine and breaker on record (router_node_state, migration 007): they survive
 * a coordinator restart, coordinators sharing a database share them, and the database failing
 * never fails a request.
 */

const silent = pino({ level: 'silent' });

interface StateRow {
  node_id: string;
  quarantined: boolean;
  quarantined_at: Date | null;
  reason: string | null;
  breaker: string;
  updated_by: string;
}

async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) assert.fail('condition not met in time');
    await sleep(50);
  }
}

const chat = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }] });

describe('router state on record', () => {
  let database: TestDatabase;
  let upstream: FakeOpenAI;

  const rows = async (): Promise<StateRow[]> =>
    (await database.pool.query<StateRow>('SELECT * FROM router_node_state ORDER BY node_id')).rows;

  before(async () => {
    database = await createTestDatabase();
    upstream = await startFakeOpenAI({ models: [{ id: 'm1', contextWindow: 8192 }] });
  });

  after(async () => {
    await upstream?.close();
    await database?.drop();
  });

  describe('a coordinator restart', () => {
    let home: string;
    let coordinator: RunningCoordinator | undefined;

    before(async () => {
      home = await mkdtemp(join(tmpdir(), 'handoff-router-state-'));
      const fleet = {
        nodes: [{ id: 'flaky', baseUrl: upstream.url, kind: 'vllm', models: [{ id: 'm1', contextWindow: 8192 }] }],
        thresholds: { quarantineAfterFailures: 2, reprobeSeconds: 3600 },
      };
      await writeFile(join(home, 'nodes.json'), JSON.stringify(fleet));
    });

    after(async () => {
      await coordinator?.close();
      await rm(home, { recursive: true, force: true });
    });

    test('a quarantined node stays quarantined across a restart: no request reaches it until a probe succeeds', async () => {
      upstream.defaultBehavior = { kind: 'status', status: 500 };
      upstream.probeFails = true;
      coordinator = await startCoordinator({ home, databaseUrl: database.url, port: 0, log: silent });
      const operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
      const call = async (path: string, body?: unknown): Promise<Response> =>
        fetch(coordinator!.url + path, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });

      for (let i = 0; i < 2; i++) assert.equal((await call('/v1/chat/completions', chat('m1'))).status, 503);
      const quarantined = await until(async () => (await rows()).find((r) => r.quarantined));
      assert.equal(quarantined.node_id, 'flaky');
      assert.ok(quarantined.quarantined_at instanceof Date);
      assert.match(quarantined.reason ?? '', /HTTP 500/);

      await coordinator.close();
      const probes = upstream.probes;
      coordinator = await startCoordinator({ home, databaseUrl: database.url, port: 0, log: silent });

      const nodes = (await (await call('/v1/router/nodes')).json()) as { nodes: { id: string; state: string }[] };
      assert.deepEqual(
        nodes.nodes.map((n) => [n.id, n.state]),
        [['flaky', 'quarantined']],
      );
      const sent = upstream.requests.length;
      const refused = await call('/v1/chat/completions', chat('m1'));
      assert.equal(refused.status, 503);
      assert.match(JSON.stringify(await refused.json()), /quarantined/);
      assert.equal(upstream.requests.length, sent, 'no request went to the quarantined node');

      // the restarted router probes at once; a failed probe keeps the quarantine and its start
      await until(() => upstream.probes > probes);
      const [still] = await rows();
      assert.equal(still?.quarantined, true);
      assert.equal(still?.quarantined_at?.getTime(), quarantined.quarantined_at?.getTime());

      upstream.probeFails = false;
      upstream.defaultBehavior = { kind: 'ok' };
      await coordinator.close();
      coordinator = await startCoordinator({ home, databaseUrl: database.url, port: 0, log: silent });
      const reinstated = await until(async () => (await rows()).find((r) => r.node_id === 'flaky' && !r.quarantined));
      assert.equal(reinstated.quarantined_at, null);
      assert.equal((await call('/v1/chat/completions', chat('m1'))).status, 200);
    });
  });

  describe('in one process', () => {
    const open: { close(): Promise<void> }[] = [];
    after(async () => {
      for (const o of open.reverse()) await o.close();
    });

    async function router(
      thresholds: Record<string, number>,
      clock?: { now(): number },
      store?: NodeStateStore,
    ): Promise<MountedRouter> {
      const nodeState = store ?? (await openNodeStateStore(database.db, { log: silent, pollMs: 50 }));
      const fleet = FleetConfig.parse({
        nodes: [{ id: 'shared', baseUrl: upstream.url, kind: 'vllm', models: [{ id: 'm1', contextWindow: 8192 }] }],
        thresholds,
      });
      const mounted = await mountRouter({ fleet: () => fleet, log: silent, probeCheckMs: 0, nodeState, clock });
      open.push(mounted);
      return mounted;
    }

    test('a quarantine one coordinator decides is taken on by another sharing the database, and so is its end', async () => {
      await database.pool.query('DELETE FROM router_node_state');
      upstream.defaultBehavior = { kind: 'status', status: 500 };
      upstream.probeFails = true;
      const clock = { t: Date.now(), now: () => clock.t };
      const a = await router({ quarantineAfterFailures: 2, reprobeSeconds: 3600 }, clock);
      const b = await router({ quarantineAfterFailures: 2, reprobeSeconds: 3600 });
      assert.equal(b.router.nodes()[0]?.state, 'healthy');

      for (let i = 0; i < 2; i++) assert.equal((await a.post('/v1/chat/completions', chat('m1'))).status, 503);
      assert.equal(a.router.nodes()[0]?.state, 'quarantined');
      await until(() => b.router.nodes()[0]?.state === 'quarantined');
      const sent = upstream.requests.length;
      assert.equal((await b.post('/v1/chat/completions', chat('m1'))).status, 503);
      assert.equal(upstream.requests.length, sent, 'the second coordinator sent nothing to the node');

      upstream.probeFails = false;
      upstream.defaultBehavior = { kind: 'ok' };
      clock.t += 3601 * 1000;
      await a.router.probeDue();
      assert.equal(a.router.nodes()[0]?.state, 'healthy');
      await until(() => b.router.nodes()[0]?.state === 'healthy');
      assert.equal((await b.post('/v1/chat/completions', chat('m1'))).status, 200);
    });

    test('an open breaker is open again after a restart for the rest of its reset timeout, and the node gets nothing meanwhile', async () => {
      await database.pool.query('DELETE FROM router_node_state');
      upstream.defaultBehavior = { kind: 'status', status: 500 };
      const store = await openNodeStateStore(database.db, { log: silent, pollMs: 0 });
      const first = await router({ quarantineAfterFailures: 100 }, undefined, store);
      // opossum opens at 50% errors over at least 5 calls
      for (let i = 0; i < 5; i++) await first.post('/v1/chat/completions', chat('m1'));
      assert.equal(first.router.nodes()[0]?.breaker, 'open');
      await first.close();
      const [row] = await rows();
      assert.equal(row?.breaker, 'open');
      assert.equal(row?.quarantined, false);

      upstream.defaultBehavior = { kind: 'ok' };
      const restarted = await router({ quarantineAfterFailures: 100 });
      assert.equal(restarted.router.nodes()[0]?.breaker, 'open');
      const sent = upstream.requests.length;
      assert.equal((await restarted.post('/v1/chat/completions', chat('m1'))).status, 503);
      assert.equal(upstream.requests.length, sent);

      // only for what is left of its reset timeout (30 s): one that opened longer ago starts closed
      await database.pool.query(`UPDATE router_node_state SET breaker_opened_at = now() - interval '31 seconds'`);
      const later = await router({ quarantineAfterFailures: 100 });
      assert.equal(later.router.nodes()[0]?.breaker, 'closed');
      assert.equal((await later.post('/v1/chat/completions', chat('m1'))).status, 200);
    });

    test('a database that cannot be written fails no request: the write is logged and the answer is the same', async () => {
      const lines: string[] = [];
      const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
      const pool = createPool(database.url, { max: 2 });
      const db = createDb(pool);
      const nodeState = await openNodeStateStore(db, { log, pollMs: 0 });
      const usage = createUsageLog(db, { log, flushMs: 60_000, batchRows: 1 });
      await db.destroy();
      const fleet = FleetConfig.parse({
        nodes: [{ id: 'down-db', baseUrl: upstream.url, kind: 'vllm', models: [{ id: 'm1', contextWindow: 8192 }] }],
        thresholds: { quarantineAfterFailures: 1 },
      });
      const mounted = await mountRouter({ fleet: () => fleet, log, probeCheckMs: 0, nodeState, usage });
      open.push(mounted);

      upstream.defaultBehavior = { kind: 'ok' };
      const ok = await mounted.post('/v1/chat/completions', chat('m1'));
      assert.equal(ok.status, 200);
      upstream.defaultBehavior = { kind: 'status', status: 500 };
      assert.equal((await mounted.post('/v1/chat/completions', chat('m1'))).status, 503);
      assert.equal(mounted.router.nodes()[0]?.state, 'quarantined');
      await until(() => lines.some((l) => l.includes('could not record the model nodes')));
      await until(() => lines.some((l) => l.includes('could not write usage rows')));
    });
  });
});
