import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { z } from 'zod';
import { loadPolicy, watchConfigFile } from '@handoff/contracts';
import { buildCoordinator, buildServer, startCoordinator } from '@handoff/coordinator';
import type { BuiltCoordinator } from '@handoff/coordinator';
import { createDb, createPool } from '@handoff/db';
import type { IntentService } from '@handoff/intents';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';

const silent = pino({ level: 'silent' });

/** Polls `check` until it returns true or `ms` pass. */
async function eventually(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(25);
  }
  assert.fail(`condition not met within ${ms} ms`);
}

describe('configuration files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'handoff-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const Schema = z.strictObject({ limit: z.int().min(1).default(3), name: z.string().optional() });

  test('a missing file is the default value', () => {
    const watcher = watchConfigFile(join(dir, 'absent.json'), Schema, { defaultValue: { limit: 7 } });
    try {
      assert.deepEqual(watcher.current(), { limit: 7 });
    } finally {
      watcher.close();
    }
  });

  test('an invalid file at start is refused with a message naming the file and every field', async () => {
    const path = join(dir, 'policy.json');
    await writeFile(path, JSON.stringify({ retry: { maxAttempts: 0 }, lease: { ttlSeconds: 'long' }, extra: 1 }));
    assert.throws(
      () => loadPolicy(dir),
      (err: Error) => {
        assert.match(err.message, /^policy\.json: /);
        assert.match(err.message, /retry\.maxAttempts: Too small/);
        assert.match(err.message, /lease\.ttlSeconds: /);
        assert.match(err.message, /extra: Unrecognized key/);
        return true;
      },
    );
    await writeFile(path, '{ not json');
    assert.throws(
      () => loadPolicy(dir),
      (err: Error) => err.message.startsWith('policy.json: invalid JSON'),
    );
    await unlink(path);
  });

  test('a good change is taken, a bad one refused while the last good value stays', async () => {
    const path = join(dir, 'watched.json');
    await writeFile(path, JSON.stringify({ limit: 2 }));
    const changes: unknown[] = [];
    const errors: string[] = [];
    const watcher = watchConfigFile(path, Schema, {
      defaultValue: { limit: 3 },
      intervalMs: 20,
      onChange: (v) => changes.push(v),
      onError: (m) => errors.push(m),
    });
    try {
      assert.deepEqual(watcher.current(), { limit: 2 });
      await writeFile(path, JSON.stringify({ limit: 5, name: 'five' }));
      await eventually(() => changes.length === 1);
      assert.deepEqual(watcher.current(), { limit: 5, name: 'five' });

      await writeFile(path, JSON.stringify({ limit: -1, name: 'negative' }));
      await eventually(() => errors.length === 1);
      assert.match(errors[0] ?? '', /^watched\.json: limit: Too small/);
      assert.deepEqual(watcher.current(), { limit: 5, name: 'five' }, 'the last good value stays');

      await unlink(path);
      await eventually(() => changes.length === 2);
      assert.deepEqual(watcher.current(), { limit: 3 }, 'a deleted file is the default again');
    } finally {
      watcher.close();
    }
  });
});

describe('coordinator and policy.json', () => {
  let database: TestDatabase;
  let home: string;
  let coordinator: BuiltCoordinator | undefined;

  before(async () => {
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-policy-'));
  });
  after(async () => {
    await coordinator?.close();
    await database.drop();
    await rm(home, { recursive: true, force: true });
  });

  test('a coordinator refuses to start with a bad policy.json, naming the field', async () => {
    await writeFile(
      join(home, 'policy.json'),
      JSON.stringify({ rateLimits: { 'x:@a': { capacity: -1, refillPerSecond: 1 } } }),
    );
    await assert.rejects(
      startCoordinator({ home, databaseUrl: database.url, port: 0, log: silent }),
      /policy\.json: rateLimits\.x:@a\.capacity: Too small/,
    );
  });

  test('rate limits are applied at start and again when policy.json changes', async () => {
    await writeFile(
      join(home, 'policy.json'),
      JSON.stringify({ rateLimits: { 'webhook:ci': { capacity: 5, refillPerSecond: 1 } } }),
    );
    coordinator = await buildCoordinator({ home, databaseUrl: database.url, log: silent });
    const bucket = () =>
      database.db.selectFrom('rate_buckets').selectAll().where('key', '=', 'webhook:ci').executeTakeFirst();
    assert.equal((await bucket())?.capacity, 5);

    // relax approval for webhook:ci and raise the limit; the running coordinator follows the file
    await writeFile(
      join(home, 'policy.json'),
      JSON.stringify({
        approval: { rules: [{ channel: 'webhook', account: 'ci', requireApproval: false }] },
        rateLimits: { 'webhook:ci': { capacity: 9, refillPerSecond: 1 } },
      }),
    );
    await eventually(async () => (await bucket())?.capacity === 9, 5000);

    const token = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
    const res = await coordinator.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        channel: 'webhook',
        account: 'ci',
        payload: { url: 'http://127.0.0.1:9/', body: null },
        idempotencyKey: 'ci-1',
      }),
    });
    const intent = res.json<{ state: string }>();
    assert.equal(res.statusCode, 201);
    assert.equal(intent.state, 'approved');

    // a broken edit is refused; the last good policy stays in force
    await writeFile(join(home, 'policy.json'), '{"approval": {"default": "sometimes"}}');
    await sleep(1500);
    const again = await coordinator.app.inject({
      method: 'POST',
      url: '/v1/intents',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        channel: 'webhook',
        account: 'ci',
        payload: { url: 'http://127.0.0.1:9/', body: 2 },
        idempotencyKey: 'ci-2',
      }),
    });
    assert.equal(again.json<{ state: string }>().state, 'approved');
  });
});

describe('when Postgres is unreachable', () => {
  test('/healthz answers 503 {ok: false, db: "down"} and an API call a 503 unavailable, never a 500', async () => {
    // port 9 (discard) on loopback: nothing listens, connections are refused at once
    const pool = createPool('postgres://postgres@127.0.0.1:9/none', { onError: () => {} });
    const db = createDb(pool);
    const intents = {} as IntentService;
    const app = await buildServer({ db, intents, log: silent, home: tmpdir(), bindHost: '127.0.0.1' });
    try {
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(health.statusCode, 503);
      assert.deepEqual(health.json(), { ok: false, db: 'down' });
      const list = await app.inject({
        method: 'GET',
        url: '/v1/intents',
        headers: { authorization: `Bearer hnd_${'C'.repeat(43)}` },
      });
      assert.equal(list.statusCode, 503, list.body);
      assert.equal(list.json().error.code, 'unavailable');
      const metrics = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(metrics.statusCode, 200, 'metrics still serve the process metrics');
    } finally {
      await app.close();
      await db.destroy();
    }
  });

  test('/metrics needs a token when the coordinator is bound beyond loopback', async () => {
    const pool = createPool('postgres://postgres@127.0.0.1:9/none', { onError: () => {} });
    const db = createDb(pool);
    const app = await buildServer({
      db,
      intents: {} as IntentService,
      log: silent,
      home: tmpdir(),
      bindHost: '0.0.0.0',
    });
    try {
      const answer = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(answer.statusCode, 401);
      assert.equal(answer.json().error.code, 'unauthorized');
    } finally {
      await app.close();
      await db.destroy();
    }
  });
});
