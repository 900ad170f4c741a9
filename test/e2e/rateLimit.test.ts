import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startCoordinator } from '@handoff/coordinator';
import type { RunningCoordinator } from '@handoff/coordinator';
import { createTestDatabase } from '../support/database.ts';
import type { TestDatabase } from '../support/database.ts';
import { removeHome } from '../support/removeHome.ts';

/** Creates and router calls are limited per token (policy.json `requests`), with a 429 that says when to retry. */
describe('per-token request limits', () => {
  let database: TestDatabase;
  let home: string;
  let coordinator: RunningCoordinator;
  let operator: string;

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(coordinator.url + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: JSON.parse(text) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const newToken = async (name: string): Promise<string> => {
    const created = await call(operator, 'POST', '/v1/tokens', { role: 'agent', name });
    assert.equal(created.status, 201, created.text);
    return created.json['token'] as string;
  };
  let seq = 0;
  const intent = () => ({ channel: 'noop', idempotencyKey: `rl-${process.pid}-${++seq}`, payload: {} });

  before(async () => {
    database = await createTestDatabase();
    home = await mkdtemp(join(tmpdir(), 'handoff-ratelimit-'));
    await writeFile(
      join(home, 'policy.json'),
      JSON.stringify({ requests: { createsPerMinute: 5, routerCallsPerMinute: 3 } }),
    );
    coordinator = await startCoordinator({ home, databaseUrl: database.url, port: 0, log: pino({ level: 'silent' }) });
    operator = (await readFile(join(home, 'operator.token'), 'utf8')).trim();
  });

  after(async () => {
    await coordinator?.close();
    await database?.drop();
    if (home) removeHome(home);
  });

  test('an agent token gets createsPerMinute creates, then a 429 rate_limited with Retry-After; another token is not affected', async () => {
    const a = await newToken('limited-a');
    const b = await newToken('limited-b');
    for (let i = 0; i < 5; i++) assert.equal((await call(a, 'POST', '/v1/intents', intent())).status, 201);
    const refused = await call(a, 'POST', '/v1/intents', intent());
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json['error'].code, 'rate_limited');
    assert.match(refused.json['error'].message, /5 of these requests a minute \(POST \/v1\/intents\)/);
    assert.deepEqual(Object.keys(refused.json), ['error']);
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60, `Retry-After ${refused.headers.get('retry-after')}`);
    assert.equal((await call(b, 'POST', '/v1/intents', intent())).status, 201, 'the limit is per token');
    // reads are not limited
    assert.equal((await call(a, 'GET', '/v1/intents?limit=1')).status, 200);
  });

  test('a refused create is refused before its body is read: even an invalid body gets the 429', async () => {
    const a = await newToken('limited-c');
    for (let i = 0; i < 5; i++) await call(a, 'POST', '/v1/intents', intent());
    const refused = await call(a, 'POST', '/v1/intents', { not: 'an intent' });
    assert.equal(refused.status, 429, refused.text);
  });

  test('router calls are limited per token too; operator tokens are exempt by default', async () => {
    const a = await newToken('limited-router');
    const ask = { model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] };
    for (let i = 0; i < 3; i++) assert.equal((await call(a, 'POST', '/v1/chat/completions', ask)).status, 404);
    const refused = await call(a, 'POST', '/v1/chat/completions', ask);
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json['error'].code, 'rate_limited');
    assert.ok(refused.headers.get('retry-after'));
    for (let i = 0; i < 8; i++) assert.equal((await call(operator, 'POST', '/v1/intents', intent())).status, 201);
  });
});
